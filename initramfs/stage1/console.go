package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// console writes stage-1's marker lines (layout.md) to the serial console.
type console struct {
	w io.Writer
}

// openConsole opens /dev/console; before /dev is mounted, or if that fails,
// it falls back to stderr, which the kernel points at the console for /init.
func openConsole() *console {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		return &console{w: f}
	}
	return &console{w: os.Stderr}
}

func (c *console) printf(format string, args ...any) {
	fmt.Fprintf(c.w, contract.Stage1Marker+format+"\n", args...)
}

// phase marks the end of one boot step with the guest clock, for the
// host's timeline (contract.PhaseDone).
func (c *console) phase(name string) {
	c.printf(contract.PhaseDone, name, sinceBoot().Seconds())
}

// fatal prints the FATAL marker naming the step that failed.
func (c *console) fatal(step string, err error) {
	fmt.Fprintf(c.w, contract.Stage1Fatal+"%s: %v\n", step, err)
}

// seconds formats a duration as the markers show it: 1.23s.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
