package qemu

import (
	"context"
	"regexp"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu/timeline"
)

// HealthyPattern matches the line sysinit prints once every service is
// healthy (contract.HealthyLine).
var HealthyPattern = regexp.MustCompile(regexp.QuoteMeta(contract.HealthyLine))

// Healthy is where a boot became healthy.
type Healthy struct {
	// Index is the healthy line's index on the console: pass Index+1
	// to Console.Expect to wait for what comes after it.
	Index int
	// Line is the healthy line, e.g. "imgbuild-sysinit: healthy (3
	// services, 4.00s since boot)".
	Line string
	// Timeline is the boot's phases up to the healthy line.
	Timeline timeline.Timeline
}

// UntilHealthy waits, from console line from, for the healthy line. A
// boot failure line (FailurePattern) first gives an *ErrFailed; the VM's
// exit or ctx's end an error. Every boot-until-healthy (imgbuild run
// --until-healthy, make bench, the VM tests) waits here.
func (vm *VM) UntilHealthy(ctx context.Context, from int) (Healthy, error) {
	i, line, err := vm.Console.Expect(ctx, from, HealthyPattern, FailurePattern)
	if err != nil {
		return Healthy{}, err
	}
	lines := vm.Console.Timed()
	return Healthy{Index: i, Line: line, Timeline: timeline.Parse(lines[:i+1])}, nil
}

// BootUntilHealthy starts cfg and waits up to timeout for its healthy
// line. ctx bounds the VM's life, as for Start. It returns the VM
// whether or not it became healthy (nil only when it did not start), so
// that the caller can read its console and then power it down or kill it.
func BootUntilHealthy(ctx context.Context, cfg Config, timeout time.Duration) (*VM, Healthy, error) {
	vm, err := Start(ctx, cfg)
	if err != nil {
		return nil, Healthy{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h, err := vm.UntilHealthy(wctx, 0)
	return vm, h, err
}

// Shutdown presses the power button and waits up to wait for QEMU to
// exit; it kills QEMU if the guest does not power off by then (or the
// button cannot be pressed). It reports whether the guest powered off
// by itself.
func (vm *VM) Shutdown(wait time.Duration) bool {
	if err := vm.Powerdown(); err != nil {
		vm.Kill()
		return false
	}
	select {
	case <-vm.Done():
		return true
	case <-time.After(wait):
		vm.Kill()
		return false
	}
}
