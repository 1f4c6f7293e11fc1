package server

import (
	"strings"
	"testing"
	"time"
)

func TestWhyNotUpdating(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	in, out := "", ""
	for i := 0; in == "" || out == ""; i++ {
		id := strings.Repeat("0", 31) + string(rune('a'+i))
		if Bucket(id, "1.2.0") < 50 {
			in = id
		} else {
			out = id
		}
	}
	rollout := func(percent int, paused bool) []RolloutStatus {
		r := Rollout{Channel: "alpha", Version: "1.2.0", Percent: percent, Since: now, Paused: paused, Why: "by hand"}
		return []RolloutStatus{{Rollout: r, PercentNow: percent, Current: true, Offered: "1.2.0"},
			{Rollout: Rollout{Channel: "alpha", Version: "1.1.0", Percent: 100}, PercentNow: 100, Offered: "1.2.0"}}
	}
	checked := now.Add(-time.Minute)
	ev := func(result, code int, meaning, reason string) *Event {
		return &Event{Time: now, Type: 3, Result: result, ErrorCode: code, Meaning: meaning, Reason: reason}
	}
	for _, tt := range []struct {
		name     string
		m        Machine
		rollouts []RolloutStatus
		want     string
	}{
		{"newest", Machine{ID: in, Channel: "alpha", Version: "1.2.0"}, rollout(50, false), "on the newest version"},
		{"unknown channel", Machine{ID: in, Channel: "beta", Version: "1.0.0"}, rollout(50, false), `channel "beta" is not offered`},
		{"outside", Machine{ID: out, Channel: "alpha", Version: "1.1.0"}, rollout(50, false), "outside the rollout of 1.2.0 at 50%"},
		{"paused", Machine{ID: in, Channel: "alpha", Version: "1.1.0"}, rollout(50, true), "rollout of 1.2.0 paused: by hand"},
		{"rolled back", Machine{ID: in, Channel: "alpha", Version: "1.1.0", Offered: "1.2.0", LastCheck: checked,
			LastError: ev(0, 44, "error 44", "rolled back from 1.2.0 to slot A: x"), LastEvent: ev(0, 44, "error 44", "")}, rollout(50, true), "rolled back 1.2.0"},
		{"rolled back another version", Machine{ID: in, Channel: "alpha", Version: "1.1.0", LastCheck: checked,
			LastError: ev(0, 44, "error 44", "rolled back from 1.1.5 to slot A: x")}, rollout(50, false), "waiting: 1.2.0 is offered at its next check"},
		{"downloading", Machine{ID: in, Channel: "alpha", Version: "1.1.0", Offered: "1.2.0", LastCheck: checked,
			LastEvent: ev(1, 0, "download started", "")}, rollout(50, false), "waiting: offered 1.2.0, download started"},
		{"refused", Machine{ID: in, Channel: "alpha", Version: "1.1.0", Offered: "1.2.0", LastCheck: checked,
			LastEvent: ev(0, 17, "error 17 (min_version)", "")}, rollout(50, false), "refused 1.2.0: error 17 (min_version)"},
	} {
		if got := WhyNotUpdating(tt.m, tt.rollouts, now); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
