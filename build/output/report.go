// Package output holds what a build hands to others: the progress
// events it sends while it runs (Event, Reporter), the summary of what
// it made (Result, written as NAME.json), and the AMI registration file
// beside an aws image (AWSRegistration). It is a leaf: the build, the
// command line, images/ami and update/release import it, not build.
package output

import "time"

// Event reports the progress of a build step. A step starts, then ends
// with Err nil (done) or set (failed).
type Event struct {
	Step   string `json:"step"`
	Status string `json:"status"` // "start", "progress", "done", "fail", "info"
	Detail string `json:"detail,omitempty"`
	// Done and Total count bytes of a "progress" event.
	Done     int64         `json:"done,omitempty"`
	Total    int64         `json:"total,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Cached   bool          `json:"cached,omitempty"`
}

// Reporter receives events; it must be safe for concurrent use.
type Reporter func(Event)

// Send hands e to r; a nil Reporter drops it.
func (r Reporter) Send(e Event) {
	if r != nil {
		r(e)
	}
}

// Step runs fn as a named step and reports its start and its end.
func (r Reporter) Step(name string, fn func() (detail string, err error)) error {
	start := time.Now()
	r.Send(Event{Step: name, Status: "start"})
	detail, err := fn()
	e := Event{Step: name, Status: "done", Detail: detail, Duration: time.Since(start)}
	if err != nil {
		e.Status, e.Detail = "fail", err.Error()
	}
	r.Send(e)
	return err
}
