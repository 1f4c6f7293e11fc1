package supervise

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper collects every child of the process with wait4(-1): as PID 1
// sysinit adopts orphans, which must be reaped too, so os/exec's per-child
// Wait cannot be used. Exits of processes started through the Reaper are
// dispatched to their starter; others are discarded.
type Reaper struct {
	// mu is held across fork+register and across each reaping pass, so a
	// child that exits at once cannot be reaped before its pid is known.
	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
}

// NewReaper returns a Reaper; call Run to start reaping.
func NewReaper() *Reaper {
	return &Reaper{waiters: map[int]chan unix.WaitStatus{}}
}

// Start starts a process and returns its pid and a channel that receives
// its wait status once.
func (r *Reaper) Start(path string, argv []string, attr *os.ProcAttr) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", path, err)
	}
	pid := p.Pid
	// Release drops the runtime's pidfd; the zombie stays for wait4.
	_ = p.Release()
	ch := make(chan unix.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// Run reaps children on SIGCHLD (and on a slow tick, in case a signal
// was coalesced or missed) until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.reapAll()
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-tick.C:
		}
	}
}

func (r *Reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			ch <- ws
		}
	}
}
