package build

import (
	"time"
)

// Event reports the progress of a build step. A step starts, then ends
// with Err nil (done) or set (failed).
type Event struct {
	Step     string        `json:"step"`
	Status   string        `json:"status"` // "start", "done", "fail", "info"
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Cached   bool          `json:"cached,omitempty"`
}

// Reporter receives events; it must be safe for concurrent use.
type Reporter func(Event)

func (r Reporter) send(e Event) {
	if r != nil {
		r(e)
	}
}

// step runs fn as a named step and reports it.
func (r Reporter) step(name string, fn func() (detail string, err error)) error {
	start := time.Now()
	r.send(Event{Step: name, Status: "start"})
	detail, err := fn()
	e := Event{Step: name, Status: "done", Detail: detail, Duration: time.Since(start)}
	if err != nil {
		e.Status, e.Detail = "fail", err.Error()
	}
	r.send(e)
	return err
}
