package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Rollout is how far one channel's release of one version is offered.
// With no Rollout a channel offers its release to every machine.
type Rollout struct {
	Channel string `json:"channel"`
	Version string `json:"version"`
	// Percent is the share of machines offered the version at Since;
	// with Step and Every it grows by Step every Every until 100.
	Percent int       `json:"percent"`
	Step    int       `json:"step,omitempty"`
	Every   Duration  `json:"every,omitempty"`
	Since   time.Time `json:"since"`
	Paused  bool      `json:"paused,omitempty"`
	// Why is an operator's reason or the auto-pause's account.
	Why      string    `json:"why,omitempty"`
	PausedAt time.Time `json:"paused_at,omitzero"`
	// ResumedAt is the last resume: only rollbacks after it count
	// towards the next auto-pause.
	ResumedAt time.Time  `json:"resumed_at,omitzero"`
	Rollback  []Rollback `json:"rollbacks,omitempty"`
}

// Rollback is one machine that reported rolling the version back.
type Rollback struct {
	Machine string    `json:"machine_id"`
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason,omitempty"`
}

// Duration is a time.Duration written as "1h30m" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"1h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// PercentAt is the share offered at now, the schedule applied; a paused
// rollout does not grow.
func (r *Rollout) PercentAt(now time.Time) int {
	p := r.Percent
	if !r.Paused && r.Step > 0 && r.Every > 0 && now.After(r.Since) {
		steps := int64(now.Sub(r.Since) / time.Duration(r.Every))
		if steps > 100 {
			steps = 100 // a step is at least 1: 100 steps reach 100
		}
		p += int(steps) * r.Step
	}
	return min(p, 100)
}

// settle folds the schedule's growth so far into Percent, so a pause or
// a new schedule starts from what machines were already offered.
func (r *Rollout) settle(now time.Time) {
	r.Percent, r.Since = r.PercentAt(now), now.UTC()
}

// Bucket is a machine's place (0-99) in a version's rollout: a hash of
// both, so a machine stays in as the percent grows and each version
// starts with different machines.
func Bucket(machine, version string) int {
	sum := sha256.Sum256([]byte(strings.ToLower(machine) + "\x00" + version))
	return int(binary.BigEndian.Uint64(sum[:8]) % 100)
}

// Includes reports whether the rollout offers its version to machine.
func (r *Rollout) Includes(machine string, now time.Time) bool {
	return Bucket(machine, r.Version) < r.PercentAt(now)
}

// Rollouts is every rollout, in memory and in a JSON file rewritten
// (fsutil.Write) after every change.
type Rollouts struct {
	path string
	mu   sync.Mutex
	list map[[2]string]*Rollout
}

// RolloutsFile is where a repository's server keeps its rollouts.
func RolloutsFile(root string) string {
	return filepath.Join(root, StateDir, "rollouts.json")
}

// OpenRollouts loads the file at path; a missing file is no rollouts.
func OpenRollouts(path string) (*Rollouts, error) {
	rs := &Rollouts{path: path, list: map[[2]string]*Rollout{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("serve: rollouts: %w", err)
	}
	var list []*Rollout
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("serve: rollouts: %s: %w", path, err)
	}
	for _, r := range list {
		rs.list[[2]string{r.Channel, r.Version}] = r
	}
	return rs, nil
}

// Get is a copy of a channel's rollout of version, or nil.
func (rs *Rollouts) Get(channel, version string) *Rollout {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.list[[2]string{channel, version}].copy()
}

// List is a copy of every rollout, by channel and version.
func (rs *Rollouts) List() []*Rollout {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.sorted(true)
}

// Update changes (or creates, at 100%) a channel's rollout of version
// and saves the file; change's error leaves everything as it was.
func (rs *Rollouts) Update(channel, version string, now time.Time, change func(r *Rollout) error) (*Rollout, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	key := [2]string{channel, version}
	r := rs.list[key].copy()
	if r == nil {
		r = &Rollout{Channel: channel, Version: version, Percent: 100, Since: now.UTC()}
	}
	if err := change(r); err != nil {
		return nil, err
	}
	old := rs.list[key]
	rs.list[key] = r
	if err := rs.save(); err != nil {
		if old == nil {
			delete(rs.list, key)
		} else {
			rs.list[key] = old
		}
		return nil, err
	}
	return r.copy(), nil
}

func (r *Rollout) copy() *Rollout {
	if r == nil {
		return nil
	}
	c := *r
	c.Rollback = append([]Rollback(nil), r.Rollback...)
	return &c
}

func (rs *Rollouts) sorted(copies bool) []*Rollout {
	out := make([]*Rollout, 0, len(rs.list))
	for _, r := range rs.list {
		if copies {
			r = r.copy()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func (rs *Rollouts) save() error {
	data, err := json.MarshalIndent(rs.sorted(false), "", "  ")
	if err != nil {
		return fmt.Errorf("serve: rollouts: %w", err)
	}
	return saveState(rs.path, append(data, '\n'))
}

// saveState writes one of the server's state files whole or not at all.
func saveState(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("serve: %s: %w", filepath.Base(path), err)
	}
	return nil
}
