package server

import (
	"fmt"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/version"
)

// WhyNotUpdating is why a machine does not run its channel's newest
// version, in words, from its record and the rollouts GET /v1/rollouts
// shows; "on the newest version" when it does.
func WhyNotUpdating(m Machine, rollouts []RolloutStatus, now time.Time) string {
	var cur *RolloutStatus
	for i := range rollouts {
		if rollouts[i].Channel == m.Channel && rollouts[i].Current {
			cur = &rollouts[i]
		}
	}
	switch {
	case cur == nil:
		return fmt.Sprintf("channel %q is not offered", m.Channel)
	case version.Compare(m.Version, cur.Version) >= 0:
		return "on the newest version"
	case m.LastError != nil && m.LastError.ErrorCode == contract.ErrRollback &&
		rolledBackVersion(m.LastError.Reason, m.Offered) == cur.Version:
		return fmt.Sprintf("rolled back %s (it will not take it again)", cur.Version)
	}
	if held := cur.Rollout.HeldFor(m.ID, now); held != "" {
		return held
	}
	if m.Offered == cur.Version {
		last := "no event since"
		if e := m.LastEvent; e != nil && !e.Time.Before(m.LastCheck) {
			if e.Result == 0 {
				// The machine's own refusal (min_version, pin, a bad
				// payload): it retries at its next check.
				return fmt.Sprintf("refused %s: %s", cur.Version, e.Meaning)
			}
			last = e.Meaning
		}
		return fmt.Sprintf("waiting: offered %s, %s", cur.Version, last)
	}
	return fmt.Sprintf("waiting: %s is offered at its next check", cur.Version)
}
