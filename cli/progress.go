package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
)

// progress prints build events: a line per finished step with its time,
// plain and stable in CI or with --quiet reduced to the result, or JSON
// lines with --json.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	jsonW  io.Writer
	quiet  bool
	tty    bool
	start  time.Time
	active map[string]time.Time
	bytes  map[string]output.Event // latest "progress" of running steps
}

func newProgress(w io.Writer, quiet, asJSON bool, stdout io.Writer) *progress {
	p := &progress{w: w, quiet: quiet, tty: isTerminal(w), start: time.Now(), active: map[string]time.Time{}, bytes: map[string]output.Event{}}
	if asJSON {
		p.jsonW = stdout
	}
	return p
}

func (p *progress) report(e output.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(struct {
			Kind string `json:"event"`
			output.Event
		}{"step", e})
		return
	}
	if p.quiet {
		return
	}
	switch e.Status {
	case "start":
		p.active[e.Step] = time.Now()
		p.redraw()
	case "progress":
		p.bytes[e.Step] = e
		p.redraw()
	case "info":
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "         %s\n", e.Detail)
		p.redraw()
	case "done", "fail":
		delete(p.active, e.Step)
		delete(p.bytes, e.Step)
		mark := "ok"
		if e.Status == "fail" {
			mark = "FAILED"
		}
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "%-8s %-32s %7.2fs  %s\n", mark, e.Step, e.Duration.Seconds(), firstLine(e.Detail))
		p.redraw()
	}
}

func (p *progress) failed(err error) {
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(map[string]string{"event": "error", "error": err.Error()})
	}
}

func (p *progress) summary(res *output.Result) {
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(struct {
			Kind string `json:"event"`
			*output.Result
		}{"summary", res})
		return
	}
	fmt.Fprintf(p.w, "built %s %s in %.1fs:\n", res.Name, res.Version, time.Since(p.start).Seconds())
	for _, a := range res.Artifacts {
		fmt.Fprintf(p.w, "  %-10s %s (%.1f MiB)\n", a.Kind, a.Path, float64(a.Size)/(1<<20))
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i] + " …"
		}
	}
	return s
}

// redraw shows, on a terminal, one status line with every running step
// and how long it has run; finished steps print their own lines above it.
func (p *progress) redraw() {
	if !p.tty || len(p.active) == 0 {
		return
	}
	names := make([]string, 0, len(p.active))
	for n := range p.active {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.1fs", n, time.Since(p.active[n]).Seconds())
		if e, ok := p.bytes[n]; ok && e.Total > 0 {
			parts[i] += " " + bar(e.Done, e.Total) + rate(e.Done, time.Since(p.active[n]))
		} else if ok {
			parts[i] += fmt.Sprintf(" %.1f MiB", float64(e.Done)/(1<<20))
		}
	}
	fmt.Fprintf(p.w, "\r\033[K  … %s", truncate(strings.Join(parts, " · "), 110))
}

// tick redraws the status line until stop is closed, so that a long
// step visibly makes progress.
func (p *progress) tick(stop <-chan struct{}) {
	if !p.tty || p.quiet || p.jsonW != nil {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// bar draws done/total as a 20-column bar with the sizes.
func bar(done, total int64) string {
	const width = 20
	fill := int(min(done, total) * width / total)
	return fmt.Sprintf("[%s%s] %.1f/%.1f MiB", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		float64(done)/(1<<20), float64(total)/(1<<20))
}

// rate is the throughput of a step so far, once it means something.
func rate(done int64, d time.Duration) string {
	if d < 500*time.Millisecond {
		return ""
	}
	return fmt.Sprintf(" %.1f MiB/s", float64(done)/(1<<20)/d.Seconds())
}
