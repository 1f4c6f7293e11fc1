package updater

import (
	"fmt"
	"strings"
	"time"
)

// Status is what imgbuild-agent status shows.
type Status struct {
	Slot          string     `json:"slot"`
	Version       string     `json:"version"`
	TriesLeft     int        `json:"tries_left"` // of the booted entry; -1 once marked good
	Other         SlotStatus `json:"other"`
	Server        string     `json:"server,omitempty"`
	Channel       string     `json:"channel,omitempty"`
	LastCheck     time.Time  `json:"last_check,omitzero"`
	LastOffered   string     `json:"last_offered,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorCode int        `json:"last_error_code,omitempty"`
	Installed     *Installed `json:"installed,omitempty"`
	Denylist      []string   `json:"denylist"`
	Pin           string     `json:"pin,omitempty"`
	// RebootLock is the FleetLock wait (AddLock); Lock says it in words.
	RebootLock *LockState `json:"reboot_lock,omitempty"`
	Lock       string     `json:"lock,omitempty"`
	Why        string     `json:"why"` // why the machine is not updating right now
}

// SlotStatus describes the passive slot.
type SlotStatus struct {
	Slot    string `json:"slot"`
	Version string `json:"version,omitempty"`
	// State: empty (no entry), good, trial (boots next), dead (its
	// trial failed; removed at the next check).
	State     string `json:"state"`
	TriesLeft int    `json:"tries_left,omitempty"`
}

// Status gathers the machine's update status; server and channel are
// the configuration's, for display.
func (a *Agent) Status(server, channel string) (Status, error) {
	s := Status{Slot: a.Slot, TriesLeft: -1, Server: server, Channel: channel, Pin: a.Pin}
	running, err := a.Running()
	if err != nil {
		return s, err
	}
	s.Version = running.Version
	booted, err := a.slotState(a.Slot)
	if err != nil {
		return s, err
	}
	if booted.Entry != "" && !booted.Good {
		s.TriesLeft = booted.Left
	}
	other, err := a.slotState(a.Passive())
	if err != nil {
		return s, err
	}
	s.Other = SlotStatus{Slot: a.Passive(), Version: other.Version, State: "empty"}
	switch {
	case other.Dead:
		s.Other.State = "dead"
	case other.Good:
		s.Other.State = "good"
	case other.Entry != "":
		s.Other.State, s.Other.TriesLeft = "trial", other.Left
	}
	if s.Other.Version == "" {
		s.Other.Version = a.otherVersion()
	}
	st, err := a.loadState()
	if err != nil {
		return s, err
	}
	s.LastCheck, s.LastOffered, s.LastError, s.LastErrorCode, s.Installed = st.LastCheck, st.LastOffered, st.LastError, st.LastErrorCode, st.Installed
	if s.Denylist, err = a.Denylist(); err != nil {
		return s, err
	}
	if s.Denylist == nil {
		s.Denylist = []string{}
	}
	s.Why = s.why()
	return s, nil
}

func (s Status) why() string {
	switch {
	case s.TriesLeft >= 0:
		return fmt.Sprintf("this boot is a trial of %s (%d tries left): no update until it is marked good", s.Version, s.TriesLeft)
	case s.Other.State == "trial":
		return fmt.Sprintf("%s is installed in slot %s and boots at the next reboot", s.Other.Version, strings.ToUpper(s.Other.Slot))
	case s.LastError != "":
		return "the last attempt failed: " + s.LastError
	case s.Server == "":
		return "no update server configured (update.server); imgbuild-agent install installs a release by hand"
	case s.LastCheck.IsZero():
		return "no check yet"
	case s.Pin != "" && s.Pin == s.Version:
		return "pinned at " + s.Pin
	case s.LastOffered != "" && s.LastOffered != s.Version:
		return fmt.Sprintf("the server offers %s; not installed", s.LastOffered)
	}
	return fmt.Sprintf("up to date: %s is what %s offers (checked %s)", s.Version, s.Channel, s.LastCheck.Format(time.RFC3339))
}

// Text renders the status for the console.
func (s Status) Text() string {
	var b strings.Builder
	tries := "marked good"
	if s.TriesLeft >= 0 {
		tries = fmt.Sprintf("on trial, %d tries left", s.TriesLeft)
	}
	fmt.Fprintf(&b, "booted:    slot %s, %s (%s)\n", strings.ToUpper(s.Slot), s.Version, tries)
	other := s.Other.State
	if s.Other.Version != "" {
		other = s.Other.Version + ", " + other
	}
	fmt.Fprintf(&b, "other:     slot %s, %s\n", strings.ToUpper(s.Other.Slot), other)
	if s.Server != "" {
		fmt.Fprintf(&b, "server:    %s (channel %s)\n", s.Server, s.Channel)
	}
	last := "never"
	if !s.LastCheck.IsZero() {
		last = s.LastCheck.Format(time.RFC3339)
		if s.LastOffered != "" {
			last += ", offered " + s.LastOffered
		}
	}
	fmt.Fprintf(&b, "checked:   %s\n", last)
	if s.LastError != "" {
		fmt.Fprintf(&b, "error:     %s (code %d)\n", s.LastError, s.LastErrorCode)
	}
	deny := "none"
	if len(s.Denylist) > 0 {
		deny = strings.Join(s.Denylist, ", ")
	}
	fmt.Fprintf(&b, "denylist:  %s\n", deny)
	if s.Pin != "" {
		fmt.Fprintf(&b, "pin:       %s\n", s.Pin)
	}
	if s.Lock != "" {
		fmt.Fprintf(&b, "lock:      %s\n", s.Lock)
	}
	fmt.Fprintf(&b, "why:       %s\n", s.Why)
	return b.String()
}
