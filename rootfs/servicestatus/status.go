// Package servicestatus is what an operator sees of the services on a
// machine: sysinit's supervisor writes one Record per service under
// contract.ServiceStatusDir at every change of state, and
// imgbuild-services (sysinit by another name) reads them beside each
// service's cgroup, as systemctl status reads systemd's state and the
// unit's cgroup.
package servicestatus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// States a Record holds.
const (
	Waiting    = "waiting"    // for its after services or the network
	Starting   = "starting"   // running, its health check not yet passed
	Running    = "running"    // running, no health check
	Healthy    = "healthy"    // running, its check passed
	Unhealthy  = "unhealthy"  // running, its check failing again
	Restarting = "restarting" // exited, to start again after a backoff
	Exited     = "exited"     // exited for good with status 0
	Failed     = "failed"     // exited for good otherwise, or could not start
)

// Record is one service's state now.
type Record struct {
	Name  string    `json:"name"`
	State string    `json:"state"`
	Since time.Time `json:"since"` // when it entered State
	PID   int       `json:"pid,omitempty"`
	// Starts counts the instances started this boot: restarts are one
	// less.
	Starts int `json:"starts"`
	// LastExit says how the last instance ended ("exited (status 1)").
	LastExit string    `json:"last_exit,omitempty"`
	LastAt   time.Time `json:"last_exit_at,omitzero"`
	// Image is a container service's image reference; empty for a
	// command.
	Image   string `json:"image,omitempty"`
	Command string `json:"command"`
}

// Restarts is how often the service was started again.
func (r Record) Restarts() int { return max(r.Starts-1, 0) }

// Write replaces the service's record in dir.
func Write(dir string, r Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("service status: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, r.Name+".json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("service status %s: %w", r.Name, err)
	}
	return nil
}

// ReadAll reads every record in dir, in name order.
func ReadAll(dir string) ([]Record, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("service status: %w", err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("service status %s: %w", p, err)
		}
		out = append(out, r)
	}
	return out, nil
}
