package supervise

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/servicestatus"
)

// Every service's record follows its life: restarts counted, the last
// exit kept, the end told apart from a failure.
func TestStatusRecords(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	flaky := fmt.Sprintf(`echo run >> %s; [ $(wc -l < %s) -ge 3 ] && exec sleep 60; exit 1`, runs, runs)
	_, buf := newTestSupervisor(t, []contract.Service{
		sh("flaky", flaky, func(s *contract.Service) { s.Restart, s.BackoffMS, s.MaxBackoffMS = "on-failure", 10, 20 }),
		sh("done", "exit 0"),
		sh("bad", "exit 3"),
	}, func(o *Options) { o.StatusDir = filepath.Join(dir, "status") })
	buf.waitFor(t, "bad exited (status 3)", 5*time.Second)
	var recs map[string]servicestatus.Record
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := servicestatus.ReadAll(filepath.Join(dir, "status"))
		if err != nil {
			t.Fatal(err)
		}
		recs = map[string]servicestatus.Record{}
		for _, r := range all {
			recs[r.Name] = r
		}
		if recs["flaky"].Starts == 3 && recs["flaky"].State == servicestatus.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	f := recs["flaky"]
	if f.State != servicestatus.Running || f.Starts != 3 || f.Restarts() != 2 || f.PID == 0 || f.LastExit != "exited (status 1)" {
		t.Errorf("flaky: %+v, want running, 3 starts, a pid, last exit status 1", f)
	}
	if d := recs["done"]; d.State != servicestatus.Exited || d.PID != 0 || d.Starts != 1 {
		t.Errorf("done: %+v, want exited after one start", d)
	}
	if b := recs["bad"]; b.State != servicestatus.Failed || b.LastExit != "exited (status 3)" {
		t.Errorf("bad: %+v, want failed with status 3", b)
	}
}
