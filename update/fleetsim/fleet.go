// Package fleetsim simulates a fleet in one process: N machines, each
// the real update agent (rootfs/updater) over file-backed slots, update
// from imgbuild serve's handler and take the FleetLock reboot lock
// (rootfs/cluster/lockclient against rootfs/cluster/fleetlock over a
// real etcd) before each simulated reboot, all on 127.0.0.1. Run checks
// what must hold at any scale (convergence, the lock's slot bound, no
// report or lock lost across server restarts) and measures latencies;
// it asserts no time.
package fleetsim

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/imgbuild/imgbuild/internal/ctxtime"
	"github.com/imgbuild/imgbuild/rootfs/cluster/fleetlock"
	"github.com/imgbuild/imgbuild/rootfs/cluster/lockclient"
	"github.com/imgbuild/imgbuild/rootfs/updater"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/server"
)

const (
	channel = "stable"
	group   = "fleetsim"
	v1, v2  = "1.0.0", "2.0.0"
)

// Options size a run; zero fields take the defaults.
type Options struct {
	Machines int // default 20
	// Slots is the reboot lock's slots: machines rebooting at once
	// (default Machines/100, at least 1).
	Slots int
	// Interval is each agent's check interval (default 200ms, jittered).
	Interval time.Duration
	// RebootDelay bounds the random time a reboot takes (default 100ms).
	RebootDelay time.Duration
	// USRBytes is the payload written to the passive slot (default 256 KiB).
	USRBytes int
	// NoRestart leaves both servers running; by default they are
	// restarted once a third of the fleet has converged.
	NoRestart bool
	// Timeout bounds the whole rollout (default 15 minutes).
	Timeout time.Duration
	// Dir holds the machines, repository and etcd; "": a temporary
	// directory, removed after.
	Dir  string
	Logf func(format string, args ...any)
}

// Result is what a run measured.
type Result struct {
	Machines, Slots int
	// PeakReboots is the most machines between lock granted and boot
	// settled at once.
	PeakReboots int
	// Checks are update checks that offered nothing (the agent's whole
	// CheckOmaha: reconcile, request, answer); Locks are FleetLock
	// calls, both ways. Sorted.
	Checks, Locks []time.Duration
	// Installs are checks that offered v2 and installed it: request,
	// download and write to the passive slot. Sorted.
	Installs  []time.Duration
	Setup     time.Duration // machines laid out, servers started
	Converge  time.Duration // start to every machine on v2, lock given back
	Restarted bool          // both servers were restarted mid-rollout
	// Completed is how many machines' "updated, marked good" report
	// (event 3/2) the server has; one sent while the server was down is
	// lost by design (the agent does not retry reports).
	Completed int
	// FailedChecks are checks that ended in an error (mostly: the
	// server was being restarted).
	FailedChecks int
}

// Percentile returns the p-th percentile (0-100) of sorted durations.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p / 100)
	return d[i]
}

type fleet struct {
	opts     Options
	dir      string
	repoDir  string
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey
	machines []*machine

	etcd   *clientv3.Client
	sem    *fleetlock.Semaphore
	lockLn *listener
	updLn  *listener
	// omahaURL stays the same across restarts: same address.
	omahaURL string

	mu        sync.Mutex
	rebooting int
	peak      int
	violation error
	checks    []time.Duration
	locks     []time.Duration
	installs  []time.Duration
	failed    int
	done      atomic.Int64
}

func (o *Options) defaults() {
	if o.Machines <= 0 {
		o.Machines = 20
	}
	if o.Slots <= 0 {
		o.Slots = max(1, o.Machines/100)
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.RebootDelay <= 0 {
		o.RebootDelay = 100 * time.Millisecond
	}
	if o.USRBytes <= 0 {
		o.USRBytes = 256 << 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run lays out the fleet, rolls v2 out to it and checks the rollout.
// An error means a check broke (or the simulation could not run).
func Run(ctx context.Context, opts Options) (*Result, error) {
	opts.defaults()
	f := &fleet{opts: opts, dir: opts.Dir}
	if f.dir == "" {
		d, err := os.MkdirTemp("", "fleetsim-")
		if err != nil {
			return nil, fmt.Errorf("fleetsim: %w", err)
		}
		defer os.RemoveAll(d)
		f.dir = d
	}
	start := time.Now()
	stop, err := f.setup()
	if stop != nil {
		defer stop()
	}
	if err != nil {
		return nil, err
	}
	res := &Result{Machines: opts.Machines, Slots: opts.Slots, Setup: time.Since(start)}
	opts.Logf("fleetsim: %d machines laid out, servers up in %v", opts.Machines, res.Setup.Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(f.machines))
	for _, m := range f.machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.run(ctx, m); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	var restartErr error
	if !opts.NoRestart {
		restartErr = f.restartMidway(ctx)
		if restartErr != nil {
			cancel()
		}
		res.Restarted = restartErr == nil
	}
	wg.Wait()
	res.Converge = time.Since(begin)
	close(errs)
	if restartErr != nil {
		return res, restartErr
	}
	for err := range errs {
		return res, err
	}
	f.mu.Lock()
	res.PeakReboots, res.FailedChecks = f.peak, f.failed
	res.Checks, res.Locks = slices.Sorted(slices.Values(f.checks)), slices.Sorted(slices.Values(f.locks))
	res.Installs = slices.Sorted(slices.Values(f.installs))
	violation := f.violation
	f.mu.Unlock()
	if violation != nil {
		return res, violation
	}
	if n := int(f.done.Load()); n != len(f.machines) {
		return res, fmt.Errorf("fleetsim: %d of %d machines converged on %s", n, len(f.machines), v2)
	}
	return res, f.finalChecks(res)
}

// setup makes the keys, the repository with v1 and v2, the machines,
// etcd and both servers.
func (f *fleet) setup() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	keyDir := filepath.Join(f.dir, "key")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return stop, err
	}
	pubPath, privPath, err := sign.GenerateKey(keyDir)
	if err != nil {
		return stop, err
	}
	if f.pub, err = sign.LoadPublic(pubPath); err != nil {
		return stop, err
	}
	if f.priv, err = sign.LoadPrivate(privPath); err != nil {
		return stop, err
	}
	f.repoDir = filepath.Join(f.dir, "repo")
	staging := filepath.Join(f.dir, "staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return stop, err
	}
	r1 := newRelease(v1, f.opts.USRBytes)
	for _, r := range []*release{r1, newRelease(v2, f.opts.USRBytes)} {
		if err := publish(f.repoDir, staging, r, channel, f.priv); err != nil {
			return stop, fmt.Errorf("fleetsim: publish %s: %w", r.rec.Version, err)
		}
	}
	// Each USR partition holds the payload with room to spare, rounded
	// to whole MiB as images are.
	usrSize := (int64(f.opts.USRBytes)*2 + 1<<20 - 1) &^ (1<<20 - 1)
	f.machines = make([]*machine, f.opts.Machines)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range f.machines {
		g.Go(func() error {
			m, err := newMachine(filepath.Join(f.dir, "m", fmt.Sprint(i)), usrSize, r1, f.priv, f.pub)
			if err != nil {
				return fmt.Errorf("fleetsim: machine %d: %w", i, err)
			}
			f.machines[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return stop, err
	}

	e, err := startEtcd(filepath.Join(f.dir, "etcd"))
	if err != nil {
		return stop, err
	}
	stops = append(stops, e.Close)
	f.etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{e.Config().AdvertiseClientUrls[0].String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		return stop, fmt.Errorf("fleetsim: etcd client: %w", err)
	}
	stops = append(stops, func() { f.etcd.Close() })
	f.sem = fleetlock.New(f.etcd, map[string]int{group: f.opts.Slots})
	if f.lockLn, err = listen("127.0.0.1:0", fleetlock.NewHandler(f.sem, nil)); err != nil {
		return stop, err
	}
	stops = append(stops, func() { f.lockLn.stop() })
	upd, err := server.New(f.repoDir, server.Options{Keys: []ed25519.PublicKey{f.pub}})
	if err != nil {
		return stop, err
	}
	if f.updLn, err = listen("127.0.0.1:0", upd); err != nil {
		return stop, err
	}
	stops = append(stops, func() { f.updLn.stop() })
	f.omahaURL = f.updLn.URL() + server.OmahaPath

	// Many machines share two cores: the lock's retries start short so
	// that a freed slot is taken soon, as a real fleet's many hosts would.
	lockURL := f.lockLn.URL()
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, m := range f.machines {
		c := &lockclient.Client{URL: lockURL, Group: group, ID: m.id, HTTP: hc}
		m.lock = updater.NewRebootLock(&lockTimer{c: c, rec: f.recLock}, lockURL, group, "", nil)
		m.lock.Initial, m.lock.Max = 50*time.Millisecond, time.Second
	}
	return stop, nil
}

func (f *fleet) recLock(d time.Duration) {
	f.mu.Lock()
	f.locks = append(f.locks, d)
	f.mu.Unlock()
}

// run is one machine's agent loop in rootfs/agent's order: settle
// (give the lock back once the boot is marked good), check (which
// reconciles first and so reports the update complete), install, take
// the lock, reboot.
func (f *fleet) run(ctx context.Context, m *machine) error {
	url := f.omahaURL
	for ctx.Err() == nil {
		if m.holding.Load() {
			settled, err := m.a.BootSettled()
			if err != nil {
				return fmt.Errorf("fleetsim: machine %s: %w", m.id, err)
			}
			if settled {
				f.leave()
				if err := m.lock.Release(ctx); err != nil {
					return fmt.Errorf("fleetsim: machine %s: release: %w", m.id, err)
				}
				m.holding.Store(false)
			}
		}
		t := time.Now()
		installed, err := m.a.CheckOmaha(ctx, url, channel)
		d := time.Since(t)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			f.mu.Lock()
			f.failed++
			f.mu.Unlock()
			f.opts.Logf("fleetsim: machine %s: check: %v", m.id, err)
		case installed:
			f.mu.Lock()
			f.installs = append(f.installs, d)
			f.mu.Unlock()
			if err := m.lock.Acquire(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("fleetsim: machine %s: acquire: %w", m.id, err)
			}
			f.enter()
			m.holding.Store(true)
			if ctxtime.Sleep(ctx, jitter(f.opts.RebootDelay)) != nil {
				return nil
			}
			if err := m.reboot(); err != nil {
				return err
			}
			continue // the agent starts anew on the new slot
		default:
			f.mu.Lock()
			f.checks = append(f.checks, d)
			f.mu.Unlock()
			if rec, err := m.a.Running(); err == nil && rec.Version == v2 && !m.holding.Load() {
				f.done.Add(1)
				return nil
			}
		}
		if ctxtime.Sleep(ctx, jitter(f.opts.Interval)) != nil {
			return nil
		}
	}
	return nil
}

func (f *fleet) enter() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rebooting++
	f.peak = max(f.peak, f.rebooting)
	if f.rebooting > f.opts.Slots && f.violation == nil {
		f.violation = fmt.Errorf("fleetsim: %d machines rebooting at once, the lock has %d slots", f.rebooting, f.opts.Slots)
	}
}

func (f *fleet) leave() {
	f.mu.Lock()
	f.rebooting--
	f.mu.Unlock()
}

// holders is who the simulation knows holds a slot.
func (f *fleet) holders() []string {
	var ids []string
	for _, m := range f.machines {
		if m.holding.Load() {
			ids = append(ids, m.id)
		}
	}
	return ids
}

// restartMidway waits for a third of the fleet on v2, then stops both
// servers, compares what they keep before and after, and starts new
// ones on the same addresses: the update server over the same
// repository, the FleetLock handler over a new semaphore on the same
// etcd.
func (f *fleet) restartMidway(ctx context.Context) error {
	for int(f.done.Load()) < max(1, len(f.machines)/3) {
		if ctxtime.Sleep(ctx, 20*time.Millisecond) != nil {
			return nil
		}
	}
	if err := f.updLn.stop(); err != nil {
		return fmt.Errorf("fleetsim: stop update server: %w", err)
	}
	before, err := server.ReadMachines(server.MachinesFile(f.repoDir))
	if err != nil {
		return err
	}
	upd, err := server.New(f.repoDir, server.Options{Keys: []ed25519.PublicKey{f.pub}})
	if err != nil {
		return err
	}
	after, err := listMachines(upd)
	if err != nil {
		return err
	}
	if err := sameMachines(before, after); err != nil {
		return fmt.Errorf("fleetsim: update server restart: %w", err)
	}
	if f.updLn, err = listen(f.updLn.addr, upd); err != nil {
		return err
	}

	if err := f.lockLn.stop(); err != nil {
		return fmt.Errorf("fleetsim: stop fleetlock server: %w", err)
	}
	semBefore, err := f.sem.Get(ctx, group)
	if err != nil {
		return err
	}
	// No lock call can land now; every machine the simulation counts as
	// holding must be among the holders.
	f.mu.Lock()
	held := f.holders()
	f.mu.Unlock()
	for _, id := range held {
		if !semBefore.Holds(id) {
			return fmt.Errorf("fleetsim: machine %s holds the lock but the semaphore %v does not have it", id, semBefore.Holders)
		}
	}
	sem := fleetlock.New(f.etcd, map[string]int{group: f.opts.Slots})
	semAfter, err := sem.Get(ctx, group)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(semBefore, semAfter) {
		return fmt.Errorf("fleetsim: fleetlock restart: semaphore %+v became %+v", semBefore, semAfter)
	}
	f.sem = sem
	if f.lockLn, err = listen(f.lockLn.addr, fleetlock.NewHandler(sem, nil)); err != nil {
		return err
	}
	f.opts.Logf("fleetsim: both servers restarted with %d machines on v2: %d machines on record, %d lock holders kept",
		f.done.Load(), len(before), len(semBefore.Holders))
	return nil
}

// listMachines asks a server's /v1/machines, without a socket.
func listMachines(h http.Handler) ([]*server.Machine, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", server.MachinesPath, nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("fleetsim: %s: HTTP %d: %s", server.MachinesPath, rec.Code, rec.Body)
	}
	var list []*server.Machine
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("fleetsim: %s: %w", server.MachinesPath, err)
	}
	return list, nil
}

func sameMachines(before, after []*server.Machine) error {
	byID := map[string]*server.Machine{}
	for _, m := range after {
		byID[m.ID] = m
	}
	if len(before) != len(after) {
		return fmt.Errorf("%d machines on record before, %d after", len(before), len(after))
	}
	for _, b := range before {
		a := byID[b.ID]
		if a == nil {
			return fmt.Errorf("machine %s is gone", b.ID)
		}
		if a.Version != b.Version || len(a.Events) != len(b.Events) || !a.LastSeen.Equal(b.LastSeen) {
			return fmt.Errorf("machine %s: %s with %d events became %s with %d", b.ID, b.Version, len(b.Events), a.Version, len(a.Events))
		}
	}
	return nil
}

// finalChecks compares the end state with the fleet: every machine on
// record on v2, and no slot of the lock left held.
func (f *fleet) finalChecks(res *Result) error {
	list, err := server.ReadMachines(server.MachinesFile(f.repoDir))
	if err != nil {
		return err
	}
	byID := map[string]*server.Machine{}
	for _, m := range list {
		byID[m.ID] = m
	}
	for _, m := range f.machines {
		rec := byID[m.id]
		if rec == nil {
			return fmt.Errorf("fleetsim: machine %s is not on the server's record", m.id)
		}
		if rec.Version != v2 {
			return fmt.Errorf("fleetsim: the server has machine %s on %s", m.id, rec.Version)
		}
		for _, e := range rec.Events {
			if e.Type == updater.EventUpdateComplete && e.Result == updater.ResultSuccessReboot {
				res.Completed++
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := f.sem.Get(ctx, group)
	if err != nil {
		return err
	}
	if len(st.Holders) != 0 {
		return fmt.Errorf("fleetsim: the lock is still held by %v after the rollout", st.Holders)
	}
	return nil
}
