package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/rootfs/servicestatus"
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

// record writes the service's status record in its new state; exit,
// when not empty, says how its last instance ended.
func (s *service) record(state, exit string) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	r := &s.rec
	r.Name, r.State, r.Since = s.cfg.Name, state, time.Now()
	r.Command = s.cfg.Command
	if c := s.cfg.Container; c != nil {
		r.Image = c.Image
	}
	if exit != "" {
		r.PID, r.LastExit, r.LastAt = 0, exit, r.Since
	}
	s.writeRecord()
}

// recordStart records a new instance.
func (s *service) recordStart(pid int) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	r := &s.rec
	r.Name, r.Since, r.PID = s.cfg.Name, time.Now(), pid
	r.Starts++
	r.State = servicestatus.Running
	if s.cfg.Health != nil {
		r.State = servicestatus.Starting
	}
	s.writeRecord()
}

func (s *service) writeRecord() {
	if s.sup.opts.StatusDir == "" {
		return
	}
	if err := servicestatus.Write(s.sup.opts.StatusDir, s.rec); err != nil {
		s.logf("%v", err)
	}
}

// ended is the state of a service that will not start again.
func ended(status int) string {
	if status == 0 {
		return servicestatus.Exited
	}
	return servicestatus.Failed
}

func checked(ok bool) string {
	if ok {
		return servicestatus.Healthy
	}
	return servicestatus.Unhealthy
}
