package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/update/repo"
)

// RolloutStatus is a rollout as GET and POST /v1/rollouts show it.
type RolloutStatus struct {
	Rollout
	// PercentNow is Percent with the schedule applied.
	PercentNow int `json:"percent_now"`
	// Current: the channel offers this version now; Offered is the
	// version it offers.
	Current bool   `json:"current"`
	Offered string `json:"channel_version"`
	// Default: no rollout was set, the version goes to every machine.
	Default bool `json:"default,omitempty"`
}

// RolloutRequest is a POST to /v1/rollouts. Action is "set" (Percent,
// or Step with Every, or both), "pause" (Why) or "resume". An empty
// Version is the one the channel offers.
type RolloutRequest struct {
	Channel string    `json:"channel"`
	Version string    `json:"version,omitempty"`
	Action  string    `json:"action"`
	Percent *int      `json:"percent,omitempty"`
	Step    *int      `json:"step,omitempty"`
	Every   *Duration `json:"every,omitempty"`
	Why     string    `json:"why,omitempty"`
}

// apiError is an answer with a status code.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (s *Server) rolloutsAPI(w http.ResponseWriter, r *http.Request) {
	var (
		out any
		err error
	)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		out, err = s.rolloutStatus(r.URL.Query().Get("channel"))
	case http.MethodPost:
		out, err = s.changeRollout(r)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = &apiError{http.StatusMethodNotAllowed, "GET or POST only"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		code := http.StatusInternalServerError
		var ae *apiError
		if errors.As(err, &ae) {
			code = ae.code
		}
		w.WriteHeader(code)
		out = map[string]string{"error": err.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// rolloutStatus is every channel's (or one channel's) current version
// with its rollout, default or set, then rollouts of other versions.
func (s *Server) rolloutStatus(only string) ([]RolloutStatus, error) {
	var names []string
	if only != "" {
		if _, err := s.knownChannel(only); err != nil {
			return nil, err
		}
		names = []string{only}
	} else {
		list, err := repo.List(s.root)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			names = append(names, c.Channel)
		}
	}
	now := s.opts.Now()
	var out []RolloutStatus
	for _, name := range names {
		ch, err := s.channel(name)
		if err != nil {
			continue // not offered either: nothing to roll out
		}
		out = append(out, s.statusOf(name, ch.Version, ch.Version, now))
		for _, r := range s.rollouts.List() {
			if r.Channel == name && r.Version != ch.Version {
				out = append(out, s.statusOf(name, r.Version, ch.Version, now))
			}
		}
	}
	if out == nil {
		out = []RolloutStatus{}
	}
	return out, nil
}

func (s *Server) statusOf(channel, ver, current string, now time.Time) RolloutStatus {
	r := s.rollouts.Get(channel, ver)
	st := RolloutStatus{Current: ver == current, Offered: current}
	if r == nil {
		r, st.Default = &Rollout{Channel: channel, Version: ver, Percent: 100}, true
	}
	st.Rollout, st.PercentNow = *r, r.PercentAt(now)
	return st
}

// knownChannel is a channel the server offers, or a 404 naming it.
func (s *Server) knownChannel(name string) (*repo.Channel, error) {
	ch, err := s.channel(name)
	if errors.Is(err, fs.ErrNotExist) {
		var names []string
		list, _ := repo.List(s.root)
		for _, c := range list {
			names = append(names, c.Channel)
		}
		return nil, &apiError{http.StatusNotFound, fmt.Sprintf("channel %q: no such channel here (channels: %s)", name, strings.Join(names, ", "))}
	}
	if err != nil {
		return nil, &apiError{http.StatusNotFound, fmt.Sprintf("channel %q: not offered: %v", name, err)}
	}
	return ch, nil
}

func (s *Server) changeRollout(r *http.Request) (*RolloutStatus, error) {
	if !fromLoopback(r) {
		return nil, &apiError{http.StatusForbidden, "rollouts are changed from this machine only (a loopback address)"}
	}
	var req RolloutRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("rollout request: %v", err)
	}
	ch, err := s.knownChannel(req.Channel)
	if err != nil {
		return nil, err
	}
	if req.Version == "" {
		req.Version = ch.Version
	}
	if err := s.knownVersion(ch, req); err != nil {
		return nil, err
	}
	change, err := req.change()
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	got, err := s.rollouts.Update(req.Channel, req.Version, now, func(ro *Rollout) error { return change(ro, now) })
	if err != nil {
		return nil, err
	}
	s.opts.Log(fmt.Sprintf("rollout: %s %s on %s: %d%%, paused %v", req.Action, req.Version, req.Channel, got.PercentAt(now), got.Paused))
	st := RolloutStatus{Rollout: *got, PercentNow: got.PercentAt(now), Current: got.Version == ch.Version, Offered: ch.Version}
	return &st, nil
}

// knownVersion accepts the channel's version, one with a rollout, and
// for "set" a newer one, so a rollout can start at 0% before the
// version is promoted to the channel.
func (s *Server) knownVersion(ch *repo.Channel, req RolloutRequest) error {
	if err := version.Check(req.Version); err != nil {
		return badRequest("version %q: %v", req.Version, err)
	}
	if req.Version == ch.Version || s.rollouts.Get(req.Channel, req.Version) != nil {
		return nil
	}
	if req.Action == "set" && version.Compare(req.Version, ch.Version) > 0 {
		return nil
	}
	return &apiError{http.StatusNotFound, fmt.Sprintf("version %s: channel %s offers %s and has no rollout of %s", req.Version, req.Channel, ch.Version, req.Version)}
}

// change checks the request and returns what it does to a rollout.
func (req RolloutRequest) change() (func(r *Rollout, now time.Time) error, error) {
	switch req.Action {
	case "set":
		if req.Percent == nil && req.Step == nil && req.Every == nil {
			return nil, badRequest("set: give percent, or step and every")
		}
		if p := req.Percent; p != nil && (*p < 0 || *p > 100) {
			return nil, badRequest("percent %d: want 0 to 100", *p)
		}
		if (req.Step == nil) != (req.Every == nil) {
			return nil, badRequest("step and every go together")
		}
		if st := req.Step; st != nil && (*st < 0 || *st > 100) {
			return nil, badRequest("step %d: want 0 (no schedule) to 100", *st)
		}
		if e := req.Every; e != nil && *e <= 0 && *req.Step != 0 {
			return nil, badRequest("every %s: want a positive duration", time.Duration(*e))
		}
		return func(r *Rollout, now time.Time) error {
			r.settle(now)
			if req.Percent != nil {
				r.Percent = *req.Percent
			}
			if req.Step != nil {
				r.Step, r.Every = *req.Step, *req.Every
			}
			return nil
		}, nil
	case "pause":
		why := strings.TrimSpace(req.Why)
		if why == "" {
			why = "paused by the operator"
		}
		return func(r *Rollout, now time.Time) error {
			r.settle(now)
			r.Paused, r.PausedAt, r.Why = true, now, why
			return nil
		}, nil
	case "resume":
		return func(r *Rollout, now time.Time) error {
			if !r.Paused {
				return badRequest("rollout of %s on %s is not paused", r.Version, r.Channel)
			}
			r.Since, r.ResumedAt = now, now
			r.Paused, r.Why = false, ""
			return nil
		}, nil
	}
	return nil, badRequest("action %q: want set, pause or resume", req.Action)
}

// fromLoopback: the admin API answers changes from this machine only,
// whatever address serve listens on.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
