package supervise

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

// Options tune a Supervisor; zero values get the documented defaults.
type Options struct {
	// Console receives prefixed service output and Logf lines.
	Console *Console
	// Logf reports supervisor events (exits, restarts, failing checks).
	Logf func(format string, args ...any)
	// Reaper starts and reaps the services; it must be running.
	Reaper *Reaper
	// TTY is the terminal given to console services (/dev/console).
	TTY string
	// PasswdPath and GroupPath resolve service users (/etc/passwd, /etc/group).
	PasswdPath, GroupPath string
	// Network is closed once network setup is over (configured or
	// given up); services with Network set wait for it. Nil: no wait.
	Network <-chan struct{}
	// BaseEnv comes before each service's own env.
	BaseEnv []string
	// EnvDir holds NAME.env files read at each start of service NAME,
	// after (and so overriding) its own env; empty reads none.
	EnvDir string
	// StateDir receives the state files of registered services
	// (contract.ServiceStateDir).
	StateDir string
	// StatusDir receives every service's status record for
	// imgbuild-services (contract.ServiceStatusDir); empty writes none.
	StatusDir string
	// Self is the executable a container service's init is, sysinit
	// itself (default /proc/self/exe).
	Self string
	// CgroupRoot is cgroup2's mount: each service runs in a group of its
	// own below it, with its limits. Empty: no cgroups (tests).
	CgroupRoot string
	// StableAfter is the uptime after which the backoff resets (10s).
	StableAfter time.Duration
	// FailLogEvery spaces the reports of a failing health check (5s).
	FailLogEvery time.Duration
}

// Supervisor runs a set of services.
type Supervisor struct {
	opts     Options
	services []*service
	byName   map[string]*service

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	healthyOnce sync.Once
	healthy     chan struct{}
	stateMu     sync.Mutex
}

// New validates services and prepares a Supervisor; nothing starts yet.
func New(services []contract.Service, opts Options) (*Supervisor, error) {
	if err := Validate(services); err != nil {
		return nil, err
	}
	if opts.Console == nil || opts.Reaper == nil {
		return nil, fmt.Errorf("supervise: Console and Reaper are required")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.TTY == "" {
		opts.TTY = "/dev/console"
	}
	if opts.PasswdPath == "" {
		opts.PasswdPath = "/etc/passwd"
	}
	if opts.GroupPath == "" {
		opts.GroupPath = "/etc/group"
	}
	if opts.StateDir == "" {
		opts.StateDir = contract.ServiceStateDir
	}
	if opts.StableAfter == 0 {
		opts.StableAfter = 10 * time.Second
	}
	if opts.FailLogEvery == 0 {
		opts.FailLogEvery = 5 * time.Second
	}
	s := &Supervisor{opts: opts, byName: map[string]*service{}, healthy: make(chan struct{})}
	for _, cfg := range services {
		svc := &service{cfg: cfg, sup: s, ready: make(chan struct{})}
		s.services = append(s.services, svc)
		s.byName[cfg.Name] = svc
	}
	return s, nil
}

// Start launches every service; each waits for its `after` services.
func (s *Supervisor) Start(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	for _, svc := range s.services {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			svc.run(s.ctx)
		}()
	}
	s.changed()
}

// Healthy is closed once every service with a check has passed it and
// every other service is running (or finished successfully).
func (s *Supervisor) Healthy() <-chan struct{} { return s.healthy }

// Ready is closed when the named service is healthy (or started, when it
// has no check); nil for an unknown name.
func (s *Supervisor) Ready(name string) <-chan struct{} {
	if svc := s.byName[name]; svc != nil {
		return svc.ready
	}
	return nil
}

// changed re-evaluates the aggregate health after any state change.
func (s *Supervisor) changed() {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for _, svc := range s.services {
		if !svc.ok() {
			return
		}
	}
	s.healthyOnce.Do(func() { close(s.healthy) })
}

// Stop stops restarts, sends SIGTERM to every service's process group,
// waits up to grace and then sends SIGKILL.
func (s *Supervisor) Stop(grace time.Duration) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.signalAll(unix.SIGTERM)
	if waitTimeout(&s.wg, grace) {
		return
	}
	s.signalAll(unix.SIGKILL)
	waitTimeout(&s.wg, 2*time.Second)
}

func (s *Supervisor) signalAll(sig unix.Signal) {
	for _, svc := range s.services {
		if pid := svc.pid(); pid > 0 {
			// Negative pid: the whole process group the service leads.
			_ = unix.Kill(-pid, sig)
		}
	}
}

// waitTimeout reports whether wg finished within d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
