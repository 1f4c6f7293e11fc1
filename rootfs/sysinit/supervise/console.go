// Package supervise runs the services of an image: dependency order,
// restart policies with backoff, health checks, output prefixing and the
// reaping of every child, as PID 1 needs.
package supervise

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/journal"
)

// Console serialises whole lines onto one writer, so that lines from
// different services and from sysinit itself never interleave mid-line.
// Each line also goes to the journal once one is attached.
type Console struct {
	mu      sync.Mutex
	w       io.Writer
	recent  []string // the last recentLines lines, oldest first
	journal Journal
	boot    string
	pending []journal.Entry // lines from before the journal was attached
	lost    int             // pending lines dropped for want of room
}

// Journal takes the console's lines, with their service and stream.
type Journal interface {
	Write(journal.Entry) error
}

// recentLines is how many lines Recent keeps: enough to say why a trial
// boot failed.
const recentLines = 40

// maxPending bounds the lines kept for a journal that is not open yet
// (sysinit opens it once ROOT is known to be writable).
const maxPending = 2000

// NewConsole wraps w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Line writes one of sysinit's own lines followed by a newline in a
// single write.
func (c *Console) Line(s string) {
	c.line(s, journal.Sysinit, "log", strings.TrimPrefix(s, contract.SysinitMarker))
}

// ServiceLine writes one line of a service's output stream.
func (c *Console) ServiceLine(service, stream, msg string) {
	c.line("["+service+"] "+msg, service, stream, msg)
}

func (c *Console) line(s, service, stream, msg string) {
	b := make([]byte, 0, len(s)+1)
	b = append(append(b, s...), '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.w.Write(b)
	if len(c.recent) == recentLines {
		c.recent = append(c.recent[:0], c.recent[1:]...)
	}
	c.recent = append(c.recent, s)
	c.record(journal.Entry{Time: time.Now().UTC(), Boot: c.boot, Service: service, Stream: stream, Message: msg})
}

// record sends e to the journal, or keeps it until there is one; c.mu
// is held.
func (c *Console) record(e journal.Entry) {
	if c.journal == nil {
		if len(c.pending) == maxPending {
			c.lost++
			return
		}
		c.pending = append(c.pending, e)
		return
	}
	if err := c.journal.Write(e); err != nil {
		// On the console only: the journal is what failed.
		fmt.Fprintf(c.w, "%s%v\n", contract.SysinitMarker, err)
	}
}

// Attach starts sending lines to j, first the ones written since the
// console was made, under this boot's id.
func (c *Console) Attach(j Journal, boot string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.journal, c.boot = j, boot
	if c.lost > 0 {
		c.pending = append(c.pending, journal.Entry{Time: time.Now().UTC(), Service: journal.Sysinit, Stream: "log",
			Message: fmt.Sprintf("journal: %d lines from before it opened were lost", c.lost)})
	}
	for _, e := range c.pending {
		e.Boot = boot
		c.record(e)
	}
	c.pending, c.lost = nil, 0
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
