// Package vmtest is the one harness every VM test boots through, as
// u-root's vmtest serves its tests: Start boots a qemu.Config (through
// qemu.Start: no test writes a QEMU command line) with a hard time
// limit, kills it when the test ends and prints its console when the
// test failed. The VM's console can be waited on (Expect,
// ExpectHealthy), typed into (Type, Run), and the VM powered down
// (Powerdown) or waited for (WaitExit).
//
// Test VMs are isolated: user-mode networking with restrict=on (the
// qemu.Config default) or no network; OpenNetwork is refused.
package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu"
)

// DefaultVMTimeout is how long a VM may run when Start is given no
// WithVMTimeout: ample for a boot under TCG on a loaded machine.
const DefaultVMTimeout = 10 * time.Minute

// consoleTail is how much of the console a failed test prints.
const consoleTail = 6000

type options struct{ timeout time.Duration }

// Option changes how Start runs a VM.
type Option func(*options)

// WithVMTimeout is the VM's hard limit: QEMU is killed once d has passed
// since Start, and waits on it then fail.
func WithVMTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// VM is a test's running VM. Its qemu.VM is embedded: Console, Done,
// Kill, Wait, and qemu.VM.Powerdown (the bare button press) are there.
type VM struct {
	*qemu.VM
	t       testing.TB
	name    string
	stdin   *io.PipeWriter
	ctx     context.Context // ends at the VM's hard limit
	timeout time.Duration
	started time.Time
}

var started atomic.Int64 // numbers the VMs in failure output

// Start boots cfg with a console the test can type into, logged to a
// file in the test's temporary directory. QEMU is killed when the test
// ends or the VM's time limit passes; a failed test logs the tail of
// each of its VMs' consoles. cfg.Output, if set, gets a copy of the
// console; cfg.Stdin must be nil (Type writes the console's input).
func Start(t testing.TB, cfg qemu.Config, opts ...Option) *VM {
	t.Helper()
	o := options{timeout: DefaultVMTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.OpenNetwork {
		t.Fatal("vmtest: a test VM reaches nothing outside this machine: OpenNetwork is refused")
	}
	if cfg.Stdin != nil {
		t.Fatal("vmtest: the harness owns the console's input (use Type or Run), cfg.Stdin must be nil")
	}
	name := fmt.Sprintf("VM %d (%s)", started.Add(1), filepath.Base(firstOf(cfg.Disk, cfg.Kernel, cfg.BootFile, "no disk")))
	logf, err := os.Create(filepath.Join(t.TempDir(), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	cfg.Stdin = pr
	if cfg.Output != nil {
		cfg.Output = io.MultiWriter(logf, cfg.Output)
	} else {
		cfg.Output = logf
	}
	qv, err := qemu.Start(ctx, cfg)
	if err != nil {
		cancel()
		logf.Close()
		t.Fatal(err)
	}
	v := &VM{VM: qv, t: t, name: name, stdin: pw, ctx: ctx, timeout: o.timeout, started: time.Now()}
	t.Cleanup(func() {
		pw.Close()
		qv.Kill()
		cancel()
		logf.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("console of %s:\n%s", name, Tail(string(data), consoleTail))
		}
	})
	return v
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Tail is the last n bytes of s, marked as cut when it is.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Expect waits up to timeout for a console line matching re, from line
// index from on, and returns its index and text. A boot failure line
// (qemu.FailurePattern), the VM's exit or the timeout fails the test.
func (v *VM) Expect(from int, re string, timeout time.Duration) (int, string) {
	v.t.Helper()
	return v.ExpectWith(from, re, qemu.FailurePattern, timeout)
}

// ExpectWith is Expect with its own failure pattern: a line matching
// fail before re fails the test; nil fails on no line.
func (v *VM) ExpectWith(from int, re string, fail *regexp.Regexp, timeout time.Duration) (int, string) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	i, line, err := v.Console.Expect(ctx, from, regexp.MustCompile(re), fail)
	if err != nil {
		v.t.Fatalf("%s: waiting for %q: %v%s", v.name, re, err, v.limitNote())
	}
	return i, line
}

// ExpectHealthy waits up to timeout for the boot's healthy line
// (qemu.VM.UntilHealthy, as imgbuild run --until-healthy does); a
// failure line first, the VM's exit or the timeout fails the test.
func (v *VM) ExpectHealthy(timeout time.Duration) qemu.Healthy {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h, err := v.UntilHealthy(ctx, 0)
	if err != nil {
		v.t.Fatalf("%s: not healthy: %v%s", v.name, err, v.limitNote())
	}
	return h
}

// limitNote says so when the VM's hard limit is why a wait ended.
func (v *VM) limitNote() string {
	if errors.Is(v.ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf(" (the VM's %v limit passed; QEMU was killed)", v.timeout)
	}
	return ""
}

// Type writes s to the console's input, as a person at the serial
// console would ("poweroff\n").
func (v *VM) Type(s string) {
	v.t.Helper()
	if _, err := io.WriteString(v.stdin, s); err != nil {
		v.t.Fatalf("%s: console input: %v", v.name, err)
	}
}

// Run types cmd into the console's shell and returns its output (one
// line, trimmed), waiting up to timeout for it.
func (v *VM) Run(cmd string, timeout time.Duration) string {
	v.t.Helper()
	// The shell echoes what we type: quotes split the tag there, so only
	// the command's output matches.
	n := time.Now().UnixNano() % 1e9
	tag := fmt.Sprintf("OUT%d:", n)
	from := v.Console.Len()
	v.Type(fmt.Sprintf("echo OUT\"\"%d:$(%s)\n", n, cmd))
	_, line := v.Expect(from, regexp.QuoteMeta(tag), timeout)
	return strings.TrimSpace(line[strings.Index(line, tag)+len(tag):])
}

// powerOff is sysinit's last line before it powers the machine off.
var powerOff = regexp.QuoteMeta(contract.SysinitMarker) + `power off`

// Powerdown presses the ACPI power button, waits for sysinit's power
// off line and then for QEMU to exit.
func (v *VM) Powerdown() {
	v.t.Helper()
	from := v.Console.Len()
	if err := v.VM.Powerdown(); err != nil {
		v.t.Fatalf("%s: %v", v.name, err)
	}
	v.Expect(from, powerOff, 60*time.Second)
	// The guest has synced and remounted ROOT read-only before this
	// line. Under TCG the firmware's power-off sometimes never reaches
	// QEMU; then stop it ourselves rather than wait.
	select {
	case <-v.Done():
	case <-time.After(20 * time.Second):
		v.t.Logf("%s: QEMU still running 20s after the guest powered off; killing it", v.name)
		v.Kill()
	}
}

// WaitExit waits up to timeout for QEMU to end by itself (the guest
// powered off, or reset under -no-reboot) and returns QEMU's error. The
// test fails if QEMU is still running then, or was killed at the VM's
// limit.
func (v *VM) WaitExit(timeout time.Duration) error {
	v.t.Helper()
	select {
	case <-v.Done():
	case <-time.After(timeout):
		v.t.Fatalf("%s: QEMU still running after %v", v.name, timeout)
	}
	if note := v.limitNote(); note != "" {
		v.t.Fatalf("%s: did not power off in time%s", v.name, note)
	}
	v.t.Logf("%s ran %.1fs", v.name, time.Since(v.started).Seconds())
	return v.Wait()
}

// Output is the console so far, one line each.
func (v *VM) Output() string { return strings.Join(v.Console.Lines(), "\n") }

// StartCluster boots cfgs as test VMs on one private L2 segment
// (qemu.Segment): machine i gets the segment's port i (and its MAC,
// qemu.SegmentMAC(i)) beside its restrict=on user NIC. The switch stops
// when the test ends, after the VMs.
func StartCluster(t testing.TB, cfgs []qemu.Config, opts ...Option) ([]*VM, *qemu.Segment) {
	t.Helper()
	seg, err := qemu.NewSegment(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() }) // cleanups run last-in first: after every VM's kill
	vms := make([]*VM, len(cfgs))
	for i, cfg := range cfgs {
		if cfg.Segment, err = seg.Port(i); err != nil {
			t.Fatal(err)
		}
		vms[i] = Start(t, cfg, opts...)
	}
	return vms, seg
}
