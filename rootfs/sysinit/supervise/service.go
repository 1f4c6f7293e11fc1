package supervise

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/procenv"
	"github.com/imgbuild/imgbuild/rootfs/servicestatus"
)

// service is the supervisor of one configured service.
type service struct {
	cfg       contract.Service
	sup       *Supervisor
	ready     chan struct{}
	readyOnce sync.Once

	mu       sync.Mutex
	curPID   int
	running  bool
	finished bool // exited for good with status 0
	healthy  bool

	pubMu     sync.Mutex
	published string // the state last written by publish

	recMu sync.Mutex
	rec   servicestatus.Record // what record last wrote
}

func (s *service) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.curPID
}

func (s *service) ok() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Health != nil {
		return s.healthy
	}
	return s.running || s.finished
}

// markReady reports the service ready once per boot, with the guest
// clock for the host's boot timeline.
func (s *service) markReady() {
	s.readyOnce.Do(func() {
		close(s.ready)
		s.sup.opts.Logf(contract.ServiceReady, s.cfg.Name, sinceBoot().Seconds())
	})
}

func (s *service) logf(format string, args ...any) {
	s.sup.opts.Logf(s.cfg.Name+" "+format, args...)
}

// run waits for dependencies, then starts the service and restarts it per
// its policy until ctx ends or the policy says stop.
func (s *service) run(ctx context.Context) {
	s.record(servicestatus.Waiting, "")
	if net := s.sup.opts.Network; s.cfg.Network && net != nil {
		select {
		case <-net:
		case <-ctx.Done():
			return
		}
	}
	for _, dep := range s.cfg.After {
		select {
		case <-s.sup.byName[dep].ready:
		case <-ctx.Done():
			return
		}
	}
	if s.cfg.Health != nil {
		go s.watchHealth(ctx)
	}
	bo := newBackoff(s.cfg.BackoffMS, s.cfg.MaxBackoffMS)
	for {
		started := time.Now()
		ws, err := s.startAndWait()
		if ctx.Err() != nil {
			return
		}
		status := 127
		desc := ""
		switch {
		case err != nil:
			desc = fmt.Sprintf("failed to start: %v", err)
		case ws.Signaled():
			status = 128 + int(ws.Signal())
			desc = fmt.Sprintf("exited (signal %d)", ws.Signal())
		default:
			status = ws.ExitStatus()
			desc = fmt.Sprintf("exited (status %d)", status)
		}
		if !shouldRestart(s.cfg.Restart, status) {
			s.logf("%s", desc)
			s.record(ended(status), desc)
			if status == 0 {
				s.mu.Lock()
				s.finished = true
				s.mu.Unlock()
				s.markReady()
				s.sup.changed()
			}
			return
		}
		if time.Since(started) >= s.sup.opts.StableAfter {
			bo.reset()
		}
		d := bo.delay()
		s.logf("%s, restarting in %v", desc, d)
		s.record(servicestatus.Restarting, desc)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
}

func shouldRestart(policy string, status int) bool {
	switch policy {
	case "always":
		return true
	case "on-failure":
		return status != 0
	}
	return false
}

// startAndWait starts one instance and blocks until it exits.
func (s *service) startAndWait() (unix.WaitStatus, error) {
	attr, cleanup, outputs, err := s.procAttr()
	if err != nil {
		return 0, err
	}
	path, argv := s.cfg.Command, append([]string{s.cfg.Command}, s.cfg.Args...)
	if s.cfg.Container != nil {
		if path, argv, err = s.containerStart(attr.Env, attr.Sys); err != nil {
			cleanup()
			for _, r := range outputs {
				r.Close()
			}
			return 0, err
		}
	}
	path, argv, group, err := s.confineStart(path, argv, attr.Sys)
	if err != nil {
		cleanup()
		for _, r := range outputs {
			r.Close()
		}
		return 0, err
	}
	pid, exited, err := s.sup.opts.Reaper.Start(path, argv, attr)
	cleanup()
	if group != nil {
		group.Close()
	}
	if err != nil {
		for _, r := range outputs {
			r.Close()
		}
		return 0, err
	}
	for i, r := range outputs {
		go func() {
			defer r.Close()
			copyLines(r, s.sup.opts.Console, s.cfg.Name, []string{"stdout", "stderr"}[i])
		}()
	}
	s.mu.Lock()
	s.curPID, s.running = pid, true
	s.mu.Unlock()
	s.recordStart(pid)
	if s.cfg.Health == nil {
		s.markReady()
	}
	s.sup.changed()
	s.publish()
	ws := <-exited
	s.mu.Lock()
	s.curPID, s.running = 0, false
	if s.cfg.Register != nil {
		// Its checks go on (watchHealth): the next instance must pass
		// again before it is registered again.
		s.healthy = false
	}
	s.mu.Unlock()
	s.publish()
	return ws, nil
}

// procAttr builds the process attributes. cleanup closes the parent's
// copies of the child's files; outputs are the read ends to prefix.
func (s *service) procAttr() (attr *os.ProcAttr, cleanup func(), outputs []*os.File, err error) {
	env := append([]string{}, s.sup.opts.BaseEnv...)
	if s.cfg.Container != nil {
		env = nil // the image's environment is all of it
	}
	sys := &syscall.SysProcAttr{}
	if s.cfg.User != "" && s.cfg.Container == nil {
		id, err := LookupUserFiles(s.cfg.User, s.sup.opts.PasswdPath, s.sup.opts.GroupPath)
		if err != nil {
			return nil, nil, nil, err
		}
		sys.Credential = id.Credential()
		env = append(env, "HOME="+id.Home)
		if id.Name != "" {
			env = append(env, "USER="+id.Name, "LOGNAME="+id.Name)
		}
	}
	env = append(env, s.cfg.Env...)
	machine, err := readEnvFile(s.sup.opts.EnvDir, s.cfg.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	env = append(env, machine...) // per-machine settings override the manifest's
	var toClose []*os.File
	cleanup = func() {
		for _, f := range toClose {
			f.Close()
		}
	}
	var files []*os.File
	if s.cfg.Console {
		tty, err := os.OpenFile(s.sup.opts.TTY, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open %s: %w", s.sup.opts.TTY, err)
		}
		toClose = append(toClose, tty)
		files = []*os.File{tty, tty, tty}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	} else {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
		}
		toClose = append(toClose, null)
		files = []*os.File{null}
		for range 2 {
			r, w, err := os.Pipe()
			if err != nil {
				cleanup()
				for _, o := range outputs {
					o.Close()
				}
				return nil, nil, nil, fmt.Errorf("pipe: %w", err)
			}
			toClose = append(toClose, w)
			outputs = append(outputs, r)
			files = append(files, w)
		}
		sys.Setpgid = true
	}
	return &os.ProcAttr{Dir: "/", Env: procenv.Dedup(env), Files: files, Sys: sys}, cleanup, outputs, nil
}

// Boot is healthy no sooner than its slowest check passes, and a
// service is often up within milliseconds to a second of its start: the
// first probe comes after firstProbe, then one every fastProbe for
// fastProbeFor, so a check passes at most fastProbe after its service
// is up; after that the wait doubles up to the check's interval.
// Doubling from the start cost up to 0.5 s per service on a first boot
// under TCG (sshd listens about 0.9 s after its start; the probes fell
// at 0.62 s and 1.26 s). A refused connection costs the guest little.
const (
	firstProbe   = 20 * time.Millisecond
	fastProbe    = 50 * time.Millisecond
	fastProbeFor = 5 * time.Second
)

// nextProbe is the wait before the next probe, elapsed after the watch
// began and prev the last wait (0 before the first probe).
func nextProbe(elapsed, prev, interval time.Duration) time.Duration {
	switch {
	case prev == 0:
		return min(firstProbe, interval)
	case elapsed < fastProbeFor:
		return min(fastProbe, interval)
	}
	return min(2*prev, interval)
}

// watchHealth polls the check until it first passes, reporting a failing
// check every FailLogEvery. A registered service's check goes on every
// interval after that, so that the registrar sees it turn unhealthy.
func (s *service) watchHealth(ctx context.Context) {
	h := s.cfg.Health
	began := time.Now()
	var wait time.Duration
	lastLog := began
	for {
		wait = nextProbe(time.Since(began), wait, interval(h))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if s.pid() == 0 {
			continue
		}
		err := Probe(ctx, h)
		if s.pid() != 0 && s.setHealthy(err == nil) {
			s.publish()
			s.record(checked(err == nil), "")
		}
		if err == nil {
			s.markReady()
			s.sup.changed()
			if s.cfg.Register == nil {
				return
			}
			wait = interval(h) / 2 // doubled to interval by nextProbe
			began = time.Time{}
			continue
		}
		if time.Since(lastLog) >= s.sup.opts.FailLogEvery {
			s.logf("health check failing: %v", err)
			lastLog = time.Now()
		}
	}
}
