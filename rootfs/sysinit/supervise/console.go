// Package supervise runs the services of an image: dependency order,
// restart policies with backoff, health checks, output prefixing and the
// reaping of every child, as PID 1 needs.
package supervise

import (
	"fmt"
	"io"
	"sync"
)

// Console serialises whole lines onto one writer, so that lines from
// different services and from sysinit itself never interleave mid-line.
type Console struct {
	mu     sync.Mutex
	w      io.Writer
	recent []string // the last recentLines lines, oldest first
}

// recentLines is how many lines Recent keeps: enough to say why a trial
// boot failed.
const recentLines = 40

// NewConsole wraps w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Line writes s followed by a newline in a single write.
func (c *Console) Line(s string) {
	b := make([]byte, 0, len(s)+1)
	b = append(append(b, s...), '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.w.Write(b)
	if len(c.recent) == recentLines {
		c.recent = append(c.recent[:0], c.recent[1:]...)
	}
	c.recent = append(c.recent, s)
}

// Recent returns the last lines written, oldest first.
func (c *Console) Recent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.recent...)
}

// Printf formats one line.
func (c *Console) Printf(format string, args ...any) {
	c.Line(fmt.Sprintf(format, args...))
}
