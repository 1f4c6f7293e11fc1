package fleetlock

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestLockUnlock(t *testing.T) {
	sem, _ := newSem(t, nil)
	ctx := testCtx(t)

	st, granted, err := sem.Lock(ctx, "default", "a")
	if err != nil || !granted || !slices.Equal(st.Holders, []string{"a"}) || st.TotalSlots != 1 {
		t.Fatalf("Lock a = %+v, %v, %v; want a granted of 1 slot", st, granted, err)
	}
	// A holder asking again (Zincati retries) is granted, unchanged.
	if st, granted, err = sem.Lock(ctx, "default", "a"); err != nil || granted || !slices.Equal(st.Holders, []string{"a"}) {
		t.Fatalf("Lock a again = %+v, %v, %v; want held, no change", st, granted, err)
	}
	_, _, err = sem.Lock(ctx, "default", "b")
	var full *FullError
	if !errors.As(err, &full) || !slices.Equal(full.Holders, []string{"a"}) || full.Slots != 1 {
		t.Fatalf("Lock b = %v; want a FullError naming a", err)
	}
	// A non-holder's steady-state report is no error and changes nothing.
	if st, released, err := sem.Unlock(ctx, "default", "b"); err != nil || released || !slices.Equal(st.Holders, []string{"a"}) {
		t.Fatalf("Unlock b = %+v, %v, %v; want no change", st, released, err)
	}
	if st, released, err := sem.Unlock(ctx, "default", "a"); err != nil || !released || len(st.Holders) != 0 {
		t.Fatalf("Unlock a = %+v, %v, %v; want released, empty", st, released, err)
	}
	if _, granted, err := sem.Lock(ctx, "default", "b"); err != nil || !granted {
		t.Fatalf("Lock b after a left = %v, %v; want granted", granted, err)
	}

	hist, err := sem.History(ctx, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range hist {
		got = append(got, fmt.Sprintf("%s %s %v", ev.Action, ev.ID, ev.Holders))
	}
	want := []string{"grant a [a]", "release a []", "grant b [b]"}
	if !slices.Equal(got, want) {
		t.Errorf("history = %q, want %q", got, want)
	}
	if last, _ := sem.History(ctx, "default", 1); len(last) != 1 || last[0].ID != "b" {
		t.Errorf("History(1) = %+v, want the grant of b", last)
	}
}

func TestGroupsAndSlots(t *testing.T) {
	sem, _ := newSem(t, map[string]int{"workers": 2})
	ctx := testCtx(t)
	for _, id := range []string{"w1", "w2"} {
		if _, _, err := sem.Lock(ctx, "workers", id); err != nil {
			t.Fatalf("Lock workers %s: %v", id, err)
		}
	}
	if _, _, err := sem.Lock(ctx, "workers", "w3"); !errors.As(err, new(*FullError)) {
		t.Fatalf("Lock workers w3 = %v, want full", err)
	}
	// Another group, created on first use, has its own single slot.
	if _, granted, err := sem.Lock(ctx, "db", "d1"); err != nil || !granted {
		t.Fatalf("Lock db d1 = %v, %v", granted, err)
	}
	for _, bad := range []string{"", "a/b"} {
		if _, _, err := sem.Lock(ctx, bad, "x"); err == nil {
			t.Errorf("Lock group %q: no error", bad)
		}
	}
	if _, _, err := sem.Lock(ctx, "db", ""); err == nil {
		t.Error("Lock empty id: no error")
	}
}

func TestRelease(t *testing.T) {
	sem, _ := newSem(t, map[string]int{"default": 2})
	ctx := testCtx(t)
	sem.Lock(ctx, "default", "a")
	sem.Lock(ctx, "default", "b")
	_, _, err := sem.Release(ctx, "default", "c")
	var nh *NotHeldError
	if !errors.As(err, &nh) || !slices.Equal(nh.Holders, []string{"a", "b"}) {
		t.Fatalf("Release c = %v; want NotHeldError naming a, b", err)
	}
	before, after, err := sem.Release(ctx, "default", "a")
	if err != nil || !slices.Equal(before.Holders, []string{"a", "b"}) || !slices.Equal(after.Holders, []string{"b"}) {
		t.Fatalf("Release a = %+v, %+v, %v", before, after, err)
	}
}

// TestRace: 20 machines race for 2 slots, each taking and giving back
// the lock a few times; the history in etcd must never show more than 2
// holders, and every grant must be matched by a release.
func TestRace(t *testing.T) {
	sem, eps := newSem(t, map[string]int{"default": 2})
	ctx := testCtx(t)
	const machines, rounds = 20, 3
	var wg sync.WaitGroup
	errs := make(chan error, machines)
	for m := range machines {
		// Each machine has its own client, as separate servers would.
		s := New(client(t, eps), map[string]int{"default": 2})
		if m%2 == 0 {
			s = sem
		}
		id := fmt.Sprintf("m%02d", m)
		wg.Go(func() {
			for got := 0; got < rounds; {
				_, _, err := s.Lock(ctx, "default", id)
				if errors.As(err, new(*FullError)) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				got++
				if _, _, err := s.Unlock(ctx, "default", id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	hist, err := sem.History(ctx, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2*machines*rounds {
		t.Fatalf("history has %d events, want %d", len(hist), 2*machines*rounds)
	}
	held, most := map[string]bool{}, 0
	for i, ev := range hist {
		// Replay the history: each event must follow from the one before.
		switch ev.Action {
		case ActionGrant:
			if held[ev.ID] {
				t.Fatalf("event %d: %s granted while holding", i, ev.ID)
			}
			held[ev.ID] = true
		case ActionRelease:
			if !held[ev.ID] {
				t.Fatalf("event %d: %s released while not holding", i, ev.ID)
			}
			delete(held, ev.ID)
		}
		if len(ev.Holders) != len(held) {
			t.Fatalf("event %d: holders %v, replay has %d", i, ev.Holders, len(held))
		}
		most = max(most, len(ev.Holders))
	}
	if most > 2 {
		t.Fatalf("%d holders at once, slots 2", most)
	}
	if most < 2 {
		t.Logf("never more than %d holder at once (no contention seen)", most)
	}
	if st, _ := sem.Get(ctx, "default"); len(st.Holders) != 0 {
		t.Errorf("holders left: %v", st.Holders)
	}
}

// TestRestart: a server started anew on the same etcd (a reboot, an
// upgrade) sees the holders the old one granted, and a second instance
// beside it agrees on every answer.
func TestRestart(t *testing.T) {
	first, eps := newSem(t, nil)
	ctx := testCtx(t)
	if _, _, err := first.Lock(ctx, "default", "a"); err != nil {
		t.Fatal(err)
	}
	second := New(client(t, eps), nil)
	if st, err := second.Get(ctx, "default"); err != nil || !slices.Equal(st.Holders, []string{"a"}) {
		t.Fatalf("restarted Get = %+v, %v; want a holding", st, err)
	}
	if _, _, err := second.Lock(ctx, "default", "b"); !errors.As(err, new(*FullError)) {
		t.Fatalf("second Lock b = %v, want full", err)
	}
	if _, released, err := second.Unlock(ctx, "default", "a"); err != nil || !released {
		t.Fatalf("second Unlock a = %v, %v", released, err)
	}
	if _, granted, err := first.Lock(ctx, "default", "b"); err != nil || !granted {
		t.Fatalf("first Lock b = %v, %v; want granted after a left via second", granted, err)
	}
}

func TestParseSlots(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]int
		ok   bool
	}{
		{"", map[string]int{}, true},
		{"default=1,workers=2", map[string]int{"default": 1, "workers": 2}, true},
		{" default = 3 ", map[string]int{"default": 3}, true},
		{"default", nil, false},
		{"default=0", nil, false},
		{"default=x", nil, false},
		{"a/b=1", nil, false},
		{"a=1,a=2", nil, false},
	} {
		got, err := ParseSlots(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseSlots(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseSlots(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// A group's history stays bounded; the newest entries are kept.
func TestHistoryPruned(t *testing.T) {
	sem, _ := newSem(t, nil)
	sem.keep = 5
	ctx := testCtx(t)
	for i := range 60 {
		id := fmt.Sprintf("m%02d", i)
		if _, _, err := sem.Lock(ctx, "default", id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sem.Unlock(ctx, "default", id); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := sem.History(ctx, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) < sem.keep || len(hist) > sem.keep+pruneSlack {
		t.Errorf("%d history entries after 120 changes, want %d to %d", len(hist), sem.keep, sem.keep+pruneSlack)
	}
	if last := hist[len(hist)-1]; last.ID != "m59" || last.Action != "release" {
		t.Errorf("newest entry %+v, want the release of m59", last)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Time.Before(hist[i-1].Time) {
			t.Errorf("history out of order at %d: %+v", i, hist)
		}
	}
}
