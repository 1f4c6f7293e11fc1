package server

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/version"
)

// maxRollbacks bounds the rollbacks kept per rollout; the newest are
// kept, more than any sensible --pause-after.
const maxRollbacks = 100

// held is why a machine is not offered a channel's version, or "" when
// it is: the rollout is paused or the machine is outside it.
func (s *Server) held(channel, version, machine string) string {
	r := s.rollouts.Get(channel, version)
	if r == nil {
		return ""
	}
	return r.HeldFor(machine, s.opts.Now())
}

// HeldFor is why the rollout does not offer its version to machine, or
// "" when it does.
func (r *Rollout) HeldFor(machine string, now time.Time) string {
	switch {
	case r.Paused:
		return fmt.Sprintf("rollout of %s paused: %s", r.Version, r.Why)
	case !r.Includes(machine, now):
		return fmt.Sprintf("outside the rollout of %s at %d%%", r.Version, r.PercentAt(now))
	}
	return ""
}

// rolledBack records a machine's rollback (error 44) against the
// channel's rollout of the version it rolled back from, and pauses that
// rollout once Options.PauseAfter machines have rolled it back since it
// last resumed.
func (s *Server) rolledBack(machine, channel, offered string, e Event) {
	reason := e.Reason
	ver := e.RolledBack
	if ver == "" {
		ver = rolledBackVersion(reason, offered)
	}
	if ver == "" {
		s.opts.Log(fmt.Sprintf("rollout: machine %s on %q rolled back, from a version the server cannot tell", machine, channel))
		return
	}
	now := s.opts.Now().UTC()
	r, err := s.rollouts.Update(channel, ver, now, func(r *Rollout) error {
		r.Rollback = append(r.Rollback, Rollback{Machine: machine, Time: now, Reason: reason})
		if len(r.Rollback) > maxRollbacks {
			r.Rollback = append([]Rollback(nil), r.Rollback[len(r.Rollback)-maxRollbacks:]...)
		}
		ids := rolledBackSince(r)
		if r.Paused || s.opts.PauseAfter < 0 || len(ids) < s.opts.PauseAfter {
			return nil
		}
		r.settle(now)
		r.Paused, r.PausedAt = true, now
		r.Why = fmt.Sprintf("auto-paused: %d machine(s) rolled back %s: %s", len(ids), ver, strings.Join(ids, ", "))
		return nil
	})
	if err != nil {
		s.opts.Log(err.Error())
		return
	}
	s.opts.Log(fmt.Sprintf("rollout: machine %s rolled back %s on %s (paused: %v)", machine, ver, channel, r.Paused))
}

// rolledBackSince is the machines that rolled the version back since
// the rollout last resumed, each once, sorted.
func rolledBackSince(r *Rollout) []string {
	seen := map[string]bool{}
	var ids []string
	for _, b := range r.Rollback {
		if b.Time.Before(r.ResumedAt) || seen[b.Machine] {
			continue
		}
		seen[b.Machine] = true
		ids = append(ids, b.Machine)
	}
	sort.Strings(ids)
	return ids
}

// rolledBackVersion is the version a rollback left when the event has
// no contract.OmahaRolledBackAttr (agents before it): the agent named it
// in its reason ("rolled back from 1.2.0 to slot A: ..."), else the
// version the server last offered the machine.
func rolledBackVersion(reason, offered string) string {
	if rest, ok := strings.CutPrefix(reason, "rolled back from "); ok {
		if v, _, ok := strings.Cut(rest, " "); ok && version.Check(v) == nil {
			return v
		}
	}
	return offered
}
