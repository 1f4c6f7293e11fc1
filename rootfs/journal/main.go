package journal

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
)

// Main is imgbuild-logs on the machine: the journal of root (the
// machine's /), with imgbuild logs' flags. It returns the exit status.
func Main(args []string, root fs.FS, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet(contract.LogsCommand, flag.ContinueOnError)
	fl.SetOutput(stderr)
	var q Query
	fl.StringVar(&q.Service, "service", "", "only this service's lines (sysinit for its own)")
	fl.IntVar(&q.Boot, "boot", 0, "which boot: 0 the newest, -1 the one before, 1 the oldest kept")
	fl.BoolVar(&q.All, "all", false, "every boot the journal holds")
	fl.BoolVar(&q.JSON, "json", false, "JSON lines: time, boot, service, stream, msg")
	fl.BoolVar(&q.ListBoots, "list-boots", false, "list the boots: offset, boot id, version, first and last time")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: no arguments, only flags (-service, -boot, -all, -json, -list-boots)\n", contract.LogsCommand)
		return 2
	}
	entries, skipped, err := Read(root, strings.TrimPrefix(contract.JournalDir, "/"))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", contract.LogsCommand, err)
		return 1
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "%d damaged or torn lines skipped\n", skipped)
	}
	if err := Show(stdout, entries, q); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", contract.LogsCommand, err)
		return 1
	}
	return 0
}
