package server

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Reports that arrive while the file is being rewritten share the next
// rewrite, and each Record returns only once its report is on disk.
func TestMachinesGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "machines.json")
	m, err := OpenMachines(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	m.writing.Lock() // a rewrite in progress
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.Record(report{machine: fmt.Sprintf("m%02d", i), version: "1.0.0", channel: "stable", check: true}, now)
		}()
	}
	for {
		m.mu.Lock()
		gen := m.gen
		m.mu.Unlock()
		if gen == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	m.writing.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m.writes != 1 {
		t.Errorf("%d reports waiting on one rewrite took %d rewrites, want 1", n, m.writes)
	}
	list, err := ReadMachines(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("file holds %d machines, want %d", len(list), n)
	}
	// One more report alone is one more rewrite.
	if err := m.Answered("m07", "2.0.0", ""); err != nil {
		t.Fatal(err)
	}
	if m.writes != 2 {
		t.Errorf("a lone answer: %d rewrites in all, want 2", m.writes)
	}
	list, _ = ReadMachines(path)
	if list[7].Offered != "2.0.0" {
		t.Errorf("m07 on disk: offered %q, want 2.0.0", list[7].Offered)
	}
}
