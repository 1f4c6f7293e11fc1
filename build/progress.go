package build

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

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

// meter counts the bytes a step has processed out of a known total and
// reports them at most every 200 ms, so that --json stays readable and
// a terminal can draw a bar.
type meter struct {
	r     Reporter
	step  string
	total int64
	done  atomic.Int64
	mu    sync.Mutex
	last  time.Time
}

func (r Reporter) meter(step string, total int64) *meter {
	return &meter{r: r, step: step, total: total}
}

func (m *meter) add(n int) {
	if m == nil || m.r == nil {
		return
	}
	if n == 0 {
		return
	}
	done := m.done.Add(int64(n))
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.last) < 200*time.Millisecond && done != m.total {
		return
	}
	m.last = time.Now()
	m.r.send(Event{Step: m.step, Status: "progress", Done: done, Total: m.total})
}

// reader counts what is read through it.
func (m *meter) reader(rc io.ReadCloser) io.ReadCloser { return &meteredReader{rc, m} }

type meteredReader struct {
	io.ReadCloser
	m *meter
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.m.add(n)
	return n, err
}

// verbose reports msg as an info event of step when --verbose is on.
func (b *builder) verbose(msg string) {
	if b.opts.Verbose {
		b.report.send(Event{Step: "info", Status: "info", Detail: msg})
	}
}
