package build

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
)

// meter counts the bytes a step has processed out of a known total and
// reports them at most every 200 ms, so that --json stays readable and
// a terminal can draw a bar.
type meter struct {
	r     output.Reporter
	step  string
	total int64
	done  atomic.Int64
	mu    sync.Mutex
	last  time.Time
}

func newMeter(r output.Reporter, step string, total int64) *meter {
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
	m.r.Send(output.Event{Step: m.step, Status: "progress", Done: done, Total: m.total})
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
		b.report.Send(output.Event{Step: "info", Status: "info", Detail: msg})
	}
}
