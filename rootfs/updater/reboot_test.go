package updater

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/cluster/lockclient"
)

// fakeLock answers from a script of errors, then grants.
type fakeLock struct {
	answers []error
	calls   []string
}

func (f *fakeLock) next(op string) error {
	f.calls = append(f.calls, op)
	if len(f.answers) == 0 {
		return nil
	}
	err := f.answers[0]
	f.answers = f.answers[1:]
	return err
}

func (f *fakeLock) PreReboot(context.Context) error   { return f.next(LockTaking) }
func (f *fakeLock) SteadyState(context.Context) error { return f.next(LockReleasing) }

// fakeClock advances only when the lock sleeps; every sleep looks at
// the state file, as status would at that moment.
type fakeClock struct {
	now    time.Time
	slept  []time.Duration
	states []*LockState
	file   string
	t      *testing.T
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	st, err := LoadLockState(c.file)
	if err != nil {
		c.t.Fatal(err)
	}
	c.states = append(c.states, st)
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func newTestLock(t *testing.T, answers ...error) (*RebootLock, *fakeLock, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), file: filepath.Join(t.TempDir(), "run", "rebootlock.json"), t: t}
	f := &fakeLock{answers: answers}
	r := &RebootLock{Lock: f, URL: "http://10.0.0.5:3333", Group: "default", StateFile: c.file,
		Initial: 2 * time.Second, Max: 5 * time.Minute,
		Now: func() time.Time { return c.now }, Sleep: c.sleep, Rand: func() float64 { return 0.5 }, Logf: t.Logf}
	return r, f, c
}

func full(holder string) error {
	return &lockclient.Refused{Op: "pre-reboot", Status: http.StatusConflict, Kind: "failed_lock",
		Value: "fleetlock: group default: all 1 slots held (by " + holder + ")"}
}

func TestAcquireBacksOff(t *testing.T) {
	var answers []error
	for range 10 {
		answers = append(answers, full("m2"))
	}
	r, f, c := newTestLock(t, answers...)
	if err := r.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 11 || f.calls[0] != LockTaking {
		t.Errorf("calls %v, want 11 pre-reboots", f.calls)
	}
	// Rand 0.5: three quarters of 2s, 4s, ... 256s, then of the 5 min cap.
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second,
		48 * time.Second, 96 * time.Second, 192 * time.Second, 225 * time.Second, 225 * time.Second}
	if len(c.slept) != len(want) {
		t.Fatalf("slept %v, want %v", c.slept, want)
	}
	for i := range want {
		if c.slept[i] != want[i] {
			t.Errorf("sleep %d = %s, want %s", i, c.slept[i], want[i])
		}
	}
	// The 4th try came after 1.5+3+6s; its wait is 12s more.
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	st := c.states[3]
	if st == nil || st.Op != LockTaking || st.Tries != 4 || st.Status != 409 || st.Kind != "failed_lock" ||
		!st.Since.Equal(start) || !st.NextTry.Equal(start.Add(22500*time.Millisecond)) || !strings.Contains(st.Answer, "(by m2)") {
		t.Errorf("state during the 4th wait: %+v", st)
	}
	if _, err := os.Stat(c.file); !os.IsNotExist(err) {
		t.Errorf("state file left after the grant: %v", err)
	}
}

func TestJitterRange(t *testing.T) {
	r, _, _ := newTestLock(t)
	for _, x := range []float64{0, 0.999} {
		r.Rand = func() float64 { return x }
		if d := r.jitter(40 * time.Second); d < 20*time.Second || d >= 40*time.Second {
			t.Errorf("jitter(40s) with %v = %s, want in [20s, 40s)", x, d)
		}
	}
}

func TestReleaseRetriesTransportErrors(t *testing.T) {
	r, f, c := newTestLock(t, errors.New("dial tcp 10.0.0.5:3333: connection refused"),
		&lockclient.Refused{Op: "steady-state", Status: 503, Kind: "failed_unlock", Value: "etcd unavailable"})
	if err := r.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.calls, ",") != "steady-state,steady-state,steady-state" {
		t.Errorf("calls %v", f.calls)
	}
	if st := c.states[0]; st.Op != LockReleasing || st.Status != 0 || !strings.Contains(st.Answer, "connection refused") {
		t.Errorf("first wait %+v", st)
	}
	if st := c.states[1]; st.Kind != "failed_unlock" || st.Answer != "etcd unavailable" {
		t.Errorf("second wait %+v", st)
	}
}

func TestAcquireStopsWithContext(t *testing.T) {
	r, f, _ := newTestLock(t, full("m2"), full("m2"))
	ctx, cancel := context.WithCancel(context.Background())
	r.Sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
	if err := r.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want canceled", err)
	}
	if len(f.calls) != 1 {
		t.Errorf("calls %v", f.calls)
	}
}

func TestWaitSettled(t *testing.T) {
	r, f, c := newTestLock(t)
	answers := []bool{false, false, true}
	asked := 0
	err := r.WaitSettled(context.Background(), func() (bool, error) {
		asked++
		if asked == 2 {
			return false, errors.New("mount ESP: busy")
		}
		ok := answers[0]
		answers = answers[1:]
		return ok, nil
	}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 4 || len(c.slept) != 3 || len(f.calls) != 0 {
		t.Errorf("asked %d, slept %v, lock calls %v", asked, c.slept, f.calls)
	}
	if st := c.states[0]; st == nil || st.Op != LockHeld {
		t.Errorf("state while on trial: %+v", st)
	}
}

func TestLockText(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 10, 0, 0, time.UTC)
	st := &LockState{Op: LockTaking, URL: "http://10.0.0.5:3333", Group: "default", Since: now.Add(-10 * time.Minute),
		Tries: 6, Status: 409, Kind: "failed_lock", Answer: "fleetlock: group default: all 1 slots held (by m2)", NextTry: now.Add(40 * time.Second)}
	want := "waiting for the reboot lock (group default at http://10.0.0.5:3333) since 2026-12-06T12:00:00Z: failed_lock (HTTP 409): fleetlock: group default: all 1 slots held (by m2); next try in 40s"
	if got := st.Text(now); got != want {
		t.Errorf("text\n got %s\nwant %s", got, want)
	}
	s := Status{Slot: "a", Version: "1.0.0", TriesLeft: -1, Other: SlotStatus{Slot: "b", Version: "2.0.0", State: "trial"}, Denylist: []string{}}
	s.Why = s.why()
	s.AddLock(st, now)
	text := s.Text()
	if !strings.Contains(text, "lock:      "+want+"\n") || !strings.Contains(text, "why:       "+want+"\n") {
		t.Errorf("status text:\n%s", text)
	}
	held := Status{Why: "up to date"}
	held.AddLock(&LockState{Op: LockHeld, URL: "http://l", Group: "etcd", Since: now}, now)
	if held.Why != "up to date" || !strings.Contains(held.Lock, "holding the reboot lock (group etcd at http://l)") {
		t.Errorf("held: %+v", held)
	}
	none := Status{Why: "x"}
	none.AddLock(nil, now)
	if none.Lock != "" || none.RebootLock != nil || strings.Contains(none.Text(), "lock:") {
		t.Errorf("no lock: %+v", none)
	}
}

func TestBootSettled(t *testing.T) {
	m := newMachine(t)
	if ok, err := m.a.BootSettled(); !ok || err != nil {
		t.Errorf("marked-good boot: %v, %v", ok, err)
	}
	esp := filepath.Join(m.a.ESP, contract.EntriesDir)
	must(t, os.Rename(filepath.Join(esp, "imgbuild-a.conf"), filepath.Join(esp, "imgbuild-a+2-1.conf")))
	if ok, err := m.a.BootSettled(); ok || err != nil {
		t.Errorf("trial boot: %v, %v; want not settled", ok, err)
	}
}

func TestIDIsTheOmahaID(t *testing.T) {
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	id, err := m.a.ID()
	if err != nil || len(id) != 32 {
		t.Fatalf("id %q, %v", id, err)
	}
	data, _ := os.ReadFile(m.a.MachineID)
	if again, _ := m.a.ID(); again != id || strings.TrimSpace(string(data)) != id {
		t.Errorf("id %q then %q, file %q", id, again, data)
	}
}
