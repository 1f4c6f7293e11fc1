package qemu

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// UntilHealthy returns the healthy line's index and text and the
// timeline up to it; a failure line first is an *ErrFailed.
func TestUntilHealthy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	vm := &VM{Console: NewConsole()}
	healthy := contract.HealthyLine + " (2 services, 4.00" + contract.SinceBoot + ")"
	vm.Console.Write([]byte("BdsDxe: starting\n" + contract.Stage1Marker + "started (kernel 6.1, 1.50" + contract.SinceBoot + ")\n" +
		contract.SysinitMarker + "started demo 1.0.0 at 3.00" + contract.SinceBoot + "\n" + healthy + "\nafter\n"))
	h, err := vm.UntilHealthy(ctx, 0)
	if err != nil || h.Index != 3 || h.Line != healthy {
		t.Fatalf("UntilHealthy = %d %q %v", h.Index, h.Line, err)
	}
	var names []string
	for _, p := range h.Timeline.Phases {
		names = append(names, p.Name)
	}
	if _, ok := h.Timeline.Get("healthy"); !ok {
		t.Errorf("timeline %v has no healthy phase", names)
	}
	if _, ok := h.Timeline.Get("stage-1"); !ok {
		t.Errorf("timeline %v has no stage-1 phase", names)
	}

	vm.Console.Write([]byte(contract.Stage1Fatal + "find partitions\n"))
	if _, err := vm.UntilHealthy(ctx, h.Index+1); !errors.As(err, new(*ErrFailed)) {
		t.Fatalf("after a FATAL line: %v, want *ErrFailed", err)
	}
	vm.Console.Close()
	if _, err := vm.UntilHealthy(ctx, vm.Console.Len()); err == nil {
		t.Fatal("UntilHealthy on an exited VM did not fail")
	}
}
