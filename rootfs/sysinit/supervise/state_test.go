package supervise

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// waitState waits for the state file of service name to say want.
func waitState(t *testing.T, dir, name, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			st, err := contract.ParseServiceState(data)
			if err != nil {
				t.Fatal(err)
			}
			if last = st.State; last == want {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: state %q, want %q", name, last, want)
}

func TestStateFilesFollowHealth(t *testing.T) {
	var ok atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	quit := filepath.Join(dir, "quit")
	con := NewConsole(&syncBuffer{})
	sup, err := New([]contract.Service{
		sh("web", "while [ ! -e "+quit+" ]; do sleep 0.05; done", func(s *contract.Service) {
			s.Health = &contract.Health{HTTPURL: srv.URL, IntervalMS: 20}
			s.Register = &contract.Register{Name: "web", Port: 8080}
		}),
		sh("plain", "sleep 30", func(s *contract.Service) {
			s.Health = &contract.Health{HTTPURL: srv.URL, IntervalMS: 20}
		}),
	}, Options{Console: con, Reaper: sharedReaper(), StateDir: dir, StableAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sup.Start(context.Background())
	t.Cleanup(func() { sup.Stop(2 * time.Second) })

	waitState(t, dir, "web", contract.StateUnhealthy)
	ok.Store(true)
	waitState(t, dir, "web", contract.StateHealthy)
	ok.Store(false) // a registered service's check goes on after it passed
	waitState(t, dir, "web", contract.StateUnhealthy)
	ok.Store(true)
	waitState(t, dir, "web", contract.StateHealthy)
	if err := os.WriteFile(quit, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitState(t, dir, "web", contract.StateStopped)
	if _, err := os.Stat(filepath.Join(dir, "plain")); !os.IsNotExist(err) {
		t.Errorf("unregistered service has a state file: %v", err)
	}
}
