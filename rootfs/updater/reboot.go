package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"time"

	"github.com/imgbuild/imgbuild/internal/ctxtime"
	"github.com/imgbuild/imgbuild/rootfs/cluster/lockclient"
)

// Locker is a reboot lock: lockclient.Client, or a fake in tests.
type Locker interface {
	PreReboot(ctx context.Context) error
	SteadyState(ctx context.Context) error
}

// RebootLock takes and gives back the FleetLock reboot lock with
// retries, keeping its wait in StateFile for imgbuild-agent status.
// The clock, sleep and jitter are fields so that tests run the waits
// without waiting.
type RebootLock struct {
	Lock       Locker
	URL, Group string // for display
	// StateFile is where the wait is written (in the agent's run dir:
	// it is about this boot only); "" keeps it in memory.
	StateFile string
	// Initial is the first retry delay; it doubles up to Max.
	Initial, Max time.Duration
	Now          func() time.Time
	Sleep        func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter.
	Rand func() float64
	Logf func(format string, args ...any)
}

// NewRebootLock is a RebootLock on the real clock, retrying after 2s
// doubling up to 5 minutes, as Zincati's steady-state loop does.
func NewRebootLock(lock Locker, url, group, stateFile string, logf func(string, ...any)) *RebootLock {
	return &RebootLock{Lock: lock, URL: url, Group: group, StateFile: stateFile,
		Initial: 2 * time.Second, Max: 5 * time.Minute,
		Now: time.Now, Sleep: ctxtime.Sleep, Rand: rand.Float64, Logf: logf}
}

// Lock phases in LockState.Op.
const (
	LockTaking    = "pre-reboot"   // waiting for the server to grant a slot
	LockHeld      = "held"         // this boot is a trial: the slot is kept
	LockReleasing = "steady-state" // giving the slot back
)

// LockState is the reboot lock's wait, as status shows it.
type LockState struct {
	Op    string    `json:"op"`
	URL   string    `json:"url"`
	Group string    `json:"group"`
	Since time.Time `json:"since"`
	Tries int       `json:"tries,omitempty"`
	// Answer is the last refusal (the server's value, which says who
	// holds the slots) or why the server could not be asked.
	Answer  string    `json:"answer,omitempty"`
	Status  int       `json:"status,omitempty"` // HTTP status of a refusal
	Kind    string    `json:"kind,omitempty"`   // its kind, e.g. failed_lock
	NextTry time.Time `json:"next_try,omitzero"`
}

// Acquire asks for the lock until the server grants it (or ctx ends).
func (r *RebootLock) Acquire(ctx context.Context) error {
	return r.retry(ctx, LockTaking, r.Lock.PreReboot)
}

// Release gives the lock back, retrying until the server confirms.
func (r *RebootLock) Release(ctx context.Context) error {
	return r.retry(ctx, LockReleasing, r.Lock.SteadyState)
}

func (r *RebootLock) retry(ctx context.Context, op string, call func(context.Context) error) error {
	st := LockState{Op: op, URL: r.URL, Group: r.Group, Since: r.Now().UTC()}
	delay := r.Initial
	for {
		err := call(ctx)
		if err == nil {
			return r.clear()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reboot lock: %s: %w", op, ctx.Err())
		}
		st.Tries++
		st.Answer, st.Status, st.Kind = err.Error(), 0, ""
		var ref *lockclient.Refused
		if errors.As(err, &ref) {
			st.Answer, st.Status, st.Kind = ref.Value, ref.Status, ref.Kind
		}
		wait := r.jitter(delay)
		st.NextTry = r.Now().UTC().Add(wait)
		if err := r.save(st); err != nil {
			r.logf("reboot lock: %v", err)
		}
		r.logf("%s", st.Text(r.Now()))
		if err := r.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("reboot lock: %s: %w", op, err)
		}
		delay = min(delay*2, r.Max)
	}
}

// jitter spreads d over [d/2, d): machines refused together do not all
// ask again in the same instant.
func (r *RebootLock) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(r.Rand()*float64(d/2))
}

// WaitSettled keeps the lock while this boot is a trial: it asks
// settled every interval until the boot is marked good or rolled back.
// Errors of settled are logged and asked again: a slot given back too
// early lets the next machine reboot while this one may still fail.
func (r *RebootLock) WaitSettled(ctx context.Context, settled func() (bool, error), every time.Duration) error {
	held := false
	for {
		ok, err := settled()
		switch {
		case err != nil:
			r.logf("reboot lock: %v", err)
		case ok:
			return nil
		case !held:
			held = true
			st := LockState{Op: LockHeld, URL: r.URL, Group: r.Group, Since: r.Now().UTC()}
			if err := r.save(st); err != nil {
				r.logf("reboot lock: %v", err)
			}
			r.logf("%s", st.Text(r.Now()))
		}
		if err := r.Sleep(ctx, every); err != nil {
			return fmt.Errorf("reboot lock: %w", err)
		}
	}
}

func (r *RebootLock) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func (r *RebootLock) save(st LockState) error {
	if r.StateFile == "" {
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(r.StateFile, append(data, '\n'))
}

func (r *RebootLock) clear() error {
	if r.StateFile == "" {
		return nil
	}
	if err := os.Remove(r.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reboot lock: %w", err)
	}
	return nil
}

// LoadLockState reads a RebootLock's StateFile; nil when there is no
// wait (the file is absent).
func LoadLockState(path string) (*LockState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reboot lock: %w", err)
	}
	var st LockState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reboot lock: %s: %w", path, err)
	}
	return &st, nil
}

// Text is the wait in one line, next try relative to now.
func (s LockState) Text(now time.Time) string {
	where := fmt.Sprintf("(group %s at %s)", s.Group, s.URL)
	since := s.Since.UTC().Format(time.RFC3339)
	switch s.Op {
	case LockHeld:
		return fmt.Sprintf("holding the reboot lock %s since %s until this boot is marked good or rolled back", where, since)
	case LockReleasing:
		return fmt.Sprintf("releasing the reboot lock %s since %s: %s; next try in %s", where, since, s.answer(), s.next(now))
	}
	return fmt.Sprintf("waiting for the reboot lock %s since %s: %s; next try in %s", where, since, s.answer(), s.next(now))
}

func (s LockState) answer() string {
	if s.Status == 0 {
		return s.Answer
	}
	kind := s.Kind
	if kind == "" {
		kind = "refused"
	}
	return fmt.Sprintf("%s (HTTP %d): %s", kind, s.Status, s.Answer)
}

func (s LockState) next(now time.Time) string {
	d := s.NextTry.Sub(now).Round(time.Second)
	if d < 0 {
		return "0s (due)"
	}
	return d.String()
}

// AddLock puts the reboot lock's wait into the status: a machine
// waiting for the lock says so as its why.
func (s *Status) AddLock(st *LockState, now time.Time) {
	if st == nil {
		return
	}
	s.RebootLock, s.Lock = st, st.Text(now)
	if st.Op == LockTaking {
		s.Why = s.Lock
	}
}

// BootSettled reports whether the booted slot is settled: marked good,
// or the slot a rollback returned to. Only then is the reboot lock
// given back.
func (a *Agent) BootSettled() (bool, error) {
	booted, err := a.slotState(a.Slot)
	if err != nil {
		return false, err
	}
	return booted.Entry == "" || booted.Good, nil
}

// ID is the machine's id as Omaha reports it (made on first use): the
// reboot lock's id too, so the lock's holders are named as the fleet's
// machines are.
func (a *Agent) ID() (string, error) { return machineID(a.MachineID) }
