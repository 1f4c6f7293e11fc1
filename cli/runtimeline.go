package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/termtext"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/timeline"
)

// runResult is run --json's output: one object once the boot is over.
type runResult struct {
	Healthy  bool               `json:"healthy"`
	Line     string             `json:"line,omitempty"`
	Error    string             `json:"error,omitempty"`
	Timeline *timeline.Timeline `json:"timeline"`
}

// report prints what --timeline, --json and --transcript ask for about
// the boot so far.
func report(env Env, f runFlags, con *qemu.Console, line string, bootErr error) error {
	lines := con.Timed()
	tl := timeline.Parse(lines)
	if f.transcript != "" {
		if err := writeTranscript(f.transcript, lines); err != nil {
			return err
		}
	}
	if f.timeline {
		fmt.Fprintln(env.Stderr, "imgbuild: boot timeline (host: seconds since QEMU started; guest: since the kernel started)")
		if err := tl.WriteTable(env.Stderr); err != nil {
			return err
		}
	}
	if f.asJSON {
		r := runResult{Healthy: bootErr == nil, Line: line, Timeline: &tl}
		if bootErr != nil {
			r.Error = bootErr.Error()
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return nil
}

// writeTranscript saves the console with arrival times, the input
// timeline.ReadTranscript reads back.
func writeTranscript(path string, lines []timeline.Line) error {
	err := fsutil.Write(path, 0o600, func(f *os.File) error { return timeline.WriteTranscript(f, lines) })
	if err != nil {
		return fmt.Errorf("--transcript: %w", err)
	}
	return nil
}

// consoleOutput is where the console copy goes: stdout, unless --json
// keeps stdout for its object. A terminal gets the console's bytes as
// they are (the shell's cursor query is answered by it); a file or a
// pipe gets plain text.
func consoleOutput(env Env, f runFlags) io.Writer {
	w := env.Stdout
	switch {
	case f.quiet:
		return nil
	case f.asJSON:
		w = env.Stderr
	}
	if isTerminal(w) {
		return w
	}
	return termtext.NewWriter(w)
}
