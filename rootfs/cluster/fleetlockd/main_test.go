package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/rootfs/cluster/etcdtest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun starts fleetlockd as its service would, takes the lock once
// and checks the log line and a clean stop.
func TestRun(t *testing.T) {
	eps := etcdtest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("FLEETLOCK_SLOTS", "default=2")
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", addr, "-etcd", eps[0]}, &logs) }()

	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/pre-reboot",
			strings.NewReader(`{"client_params": {"id": "m1", "group": "default"}}`))
		req.Header.Set("fleet-lock-protocol", "true")
		if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pre-reboot: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "granted m1 in group default: holders [m1] of 2 slots") {
		t.Errorf("log:\n%s", logs.String())
	}
}

func TestRunBadSlots(t *testing.T) {
	var logs syncBuf
	err := run(context.Background(), []string{"-slots", "default=0"}, &logs)
	if err == nil || !strings.Contains(err.Error(), "-slots") {
		t.Fatalf("run -slots default=0 = %v, want an error naming -slots", err)
	}
}
