package qemu

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/termtext"
	"github.com/imgbuild/imgbuild/qemu/timeline"
)

// Console collects a VM's serial output line by line so that callers can
// wait for markers. It is an io.Writer: QEMU's stdout is copied into it.
// Its lines are plain text: the terminal control sequences of the
// firmware and of busybox's prompt are removed (termtext).
type Console struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	// at is when each line's first byte arrived, since start: the
	// firmware's first line is drawn long before its newline.
	at        []time.Duration
	partialAt time.Duration
	cpu       []time.Duration
	partCPU   time.Duration
	start     time.Time
	// cpuTime reads QEMU's CPU time; nil until QEMU runs.
	cpuTime func() time.Duration
	changed chan struct{} // closed and replaced on every new line or close
	closed  bool
}

// NewConsole returns an empty console.
func NewConsole() *Console { return &Console{changed: make(chan struct{}), start: time.Now()} }

// restart sets the time lines are counted from (QEMU's start).
func (c *Console) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = time.Now()
}

// measureCPU makes each line record QEMU's CPU time when it began.
func (c *Console) measureCPU(f func() time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cpuTime = f
}

func (c *Console) cpuNow() time.Duration {
	if c.cpuTime == nil {
		return 0
	}
	return c.cpuTime()
}

func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Since(c.start)
	var cpu time.Duration
	if len(c.partial) == 0 || bytes.IndexByte(p, '\n') >= 0 {
		cpu = c.cpuNow()
	}
	if len(c.partial) == 0 {
		c.partialAt, c.partCPU = now, cpu
	}
	c.partial = append(c.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, termtext.String(string(c.partial[:i])))
		c.at = append(c.at, c.partialAt)
		c.cpu = append(c.cpu, c.partCPU)
		c.partial = c.partial[i+1:]
		c.partialAt, c.partCPU = now, cpu
		added = true
	}
	if added {
		c.notify()
	}
	return len(p), nil
}

// Close marks the end of output (the VM exited); waiters stop waiting.
func (c *Console) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.lines = append(c.lines, termtext.String(string(c.partial)))
		c.at = append(c.at, c.partialAt)
		c.cpu = append(c.cpu, c.partCPU)
		c.partial = nil
	}
	c.closed = true
	c.notify()
}

func (c *Console) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Lines returns a copy of every complete line so far.
func (c *Console) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Timed returns every complete line so far with when it arrived,
// counted from QEMU's start.
func (c *Console) Timed() []timeline.Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]timeline.Line, len(c.lines))
	for i, l := range c.lines {
		out[i] = timeline.Line{At: c.at[i], CPU: c.cpu[i], Text: l}
	}
	return out
}

// Len is the number of complete lines so far; pass it as from to wait
// only for lines that come later.
func (c *Console) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// ErrFailed is returned by Expect when a failure pattern matched.
type ErrFailed struct{ Line string }

func (e *ErrFailed) Error() string { return fmt.Sprintf("console: failure: %s", e.Line) }

// Expect waits, starting at line index from, for a line matching want. A
// line matching fail first gives an *ErrFailed. It returns the index and
// text of the matching line.
func (c *Console) Expect(ctx context.Context, from int, want *regexp.Regexp, fail *regexp.Regexp) (int, string, error) {
	for i := from; ; {
		c.mu.Lock()
		lines, changed, closed := c.lines, c.changed, c.closed
		c.mu.Unlock()
		for ; i < len(lines); i++ {
			if fail != nil && fail.MatchString(lines[i]) {
				return i, lines[i], &ErrFailed{Line: lines[i]}
			}
			if want.MatchString(lines[i]) {
				return i, lines[i], nil
			}
		}
		if closed {
			return i, "", fmt.Errorf("console: VM exited before a line matched %q", want)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return i, "", fmt.Errorf("console: waiting for %q: %w", want, ctx.Err())
		}
	}
}

// FailurePattern matches console lines that mean a boot went wrong.
var FailurePattern = regexp.MustCompile(`Kernel panic|` + regexp.QuoteMeta(strings.TrimSpace(contract.Stage1Fatal)) + `|Access Denied|Failed to (start|load) |` + regexp.QuoteMeta(contract.SysinitFatal))
