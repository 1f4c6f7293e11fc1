package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/build"
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
}

func newProgress(w io.Writer, quiet, asJSON bool, stdout io.Writer) *progress {
	p := &progress{w: w, quiet: quiet, tty: isTerminal(w), start: time.Now(), active: map[string]time.Time{}}
	if asJSON {
		p.jsonW = stdout
	}
	return p
}

func (p *progress) report(e build.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(struct {
			Kind string `json:"event"`
			build.Event
		}{"step", e})
		return
	}
	if p.quiet {
		return
	}
	switch e.Status {
	case "start":
		p.active[e.Step] = time.Now()
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K  … %s", e.Step)
		}
	case "done", "fail":
		delete(p.active, e.Step)
		mark := "ok"
		if e.Status == "fail" {
			mark = "FAILED"
		}
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "%-8s %-32s %7.2fs  %s\n", mark, e.Step, e.Duration.Seconds(), firstLine(e.Detail))
	}
}

func (p *progress) failed(err error) {
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(map[string]string{"event": "error", "error": err.Error()})
	}
}

func (p *progress) summary(res *build.Result) {
	if p.jsonW != nil {
		json.NewEncoder(p.jsonW).Encode(struct {
			Kind string `json:"event"`
			*build.Result
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
