package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// state is what the service's state file says now.
func (s *service) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.running:
		return contract.StateStopped
	case s.cfg.Health == nil || s.healthy:
		return contract.StateHealthy
	}
	return contract.StateUnhealthy
}

// publish writes a registered service's state file when its state has
// changed, for the registrar (contract.ServiceStateDir). Only
// registered services have one: nothing else reads them.
func (s *service) publish() {
	if s.cfg.Register == nil {
		return
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	st := s.state()
	if st == s.published {
		return
	}
	if err := writeState(s.sup.opts.StateDir, s.cfg.Name, st); err != nil {
		s.logf("%v", err)
		return
	}
	s.published = st
}

func writeState(dir, name, state string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("service state: %w", err)
	}
	data := contract.ServiceState{State: state, Since: time.Now()}.Format()
	if err := fsutil.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("service state: %w", err)
	}
	return nil
}

// setHealthy records a probe's result; it reports whether it changed.
func (s *service) setHealthy(ok bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := s.healthy != ok
	s.healthy = ok
	return changed
}
