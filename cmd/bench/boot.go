package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/timeline"
)

// bootRuns is how many first boots the timeline's medians come from:
// the machine is shared, single boots are noisy.
var bootRuns = 3

// bootTable is the boot timeline table, printed after the main table.
var bootTable string

// bootTimeline boots fresh copies of img (first boot: ROOT is formatted,
// fresh UEFI variables) and returns the median time from QEMU's start
// to the healthy line and a markdown table of each phase's medians.
func (b *bencher) bootTimeline(img string, extra ...string) (time.Duration, string, error) {
	var runs []timeline.Timeline
	var healthy []float64
	for i := range bootRuns {
		tl, err := b.bootOnce(img, i, extra...)
		if err != nil {
			return 0, "", err
		}
		h, ok := tl.Get("healthy")
		if !ok {
			return 0, "", fmt.Errorf("boot %d: no healthy line in the timeline", i)
		}
		runs = append(runs, tl)
		healthy = append(healthy, h.Host)
	}
	return time.Duration(median(healthy) * float64(time.Second)), timelineTable(runs), nil
}

// onlyBoot prints the boot timeline of an image built before.
func onlyBoot(img string) error {
	tmp, err := os.MkdirTemp("", "imgbuild-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bencher{tmp: tmp}
	wall, table, err := b.bootTimeline(img)
	if err != nil {
		return err
	}
	fmt.Printf("boot to healthy (QEMU start to the healthy line, median of %d): %s\n\n%s", bootRuns, secs(wall), table)
	return nil
}

func (b *bencher) bootOnce(img string, i int, extra ...string) (timeline.Timeline, error) {
	dir := filepath.Join(b.tmp, fmt.Sprintf("boot%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return timeline.Timeline{}, err
	}
	defer os.RemoveAll(dir)
	copy := filepath.Join(dir, "minimal.img")
	if out, err := exec.Command("cp", "--sparse=always", img, copy).CombinedOutput(); err != nil {
		return timeline.Timeline{}, fmt.Errorf("cp: %v: %s", err, out)
	}
	// The run settings (forwards, memory) live beside the image.
	if data, err := os.ReadFile(strings.TrimSuffix(img, ".img") + ".json"); err == nil {
		os.WriteFile(filepath.Join(dir, "minimal.json"), data, 0o644)
	}
	// The machine imgbuild run --until-healthy boots (qemu64,
	// virtio-rng, the development SSH config), booted here through the
	// same qemu.BootUntilHealthy; killed once healthy, as nothing after
	// that is measured.
	cfg, cleanup, err := cli.RunConfig(copy, append([]string{"--forward", "0:8080"}, extra...)...)
	defer cleanup()
	if err != nil {
		return timeline.Timeline{}, fmt.Errorf("run config: %w", err)
	}
	vm, h, err := qemu.BootUntilHealthy(context.Background(), cfg, 10*time.Minute)
	if vm == nil {
		return timeline.Timeline{}, err
	}
	defer vm.Kill()
	if err != nil {
		lines := vm.Console.Lines()
		return timeline.Timeline{}, fmt.Errorf("boot until healthy: %w\n%s", err, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return h.Timeline, nil
}

// timelineTable has a row per phase (in the first run's order) with the
// medians over the runs that have it.
func timelineTable(runs []timeline.Timeline) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Boot timeline, first boot with fresh UEFI variables under TCG, median of %d: seconds since QEMU started (host: includes this machine's load), QEMU's CPU seconds by then (the emulation's own work, nearly load-independent) and seconds since the kernel started (guest clock; under TCG it follows the host's, load included)\n\n", len(runs))
	sb.WriteString("| phase | host (s) | step (s) | QEMU CPU (s) | step (s) | guest (s) |\n| --- | --- | --- | --- | --- | --- |\n")
	prev, prevCPU := 0.0, 0.0
	for _, p := range runs[0].Phases {
		var host, guest, cpu []float64
		for _, r := range runs {
			if q, ok := r.Get(p.Name); ok {
				host = append(host, q.Host)
				if q.CPU > 0 {
					cpu = append(cpu, q.CPU)
				}
				if q.Guest != nil {
					guest = append(guest, *q.Guest)
				}
			}
		}
		name := p.Name
		if p.Sub {
			name = "&nbsp;&nbsp;" + name
		}
		g := "—"
		if len(guest) > 0 {
			g = fmt.Sprintf("%.2f", median(guest))
		}
		c, cStep := "—", "—"
		if len(cpu) > 0 {
			m := median(cpu)
			c, cStep = fmt.Sprintf("%.2f", m), fmt.Sprintf("%+.2f", m-prevCPU)
			prevCPU = m
		}
		h := median(host)
		fmt.Fprintf(&sb, "| %s | %.2f | %+.2f | %s | %s | %s |\n", name, h, h-prev, c, cStep, g)
		prev = h
	}
	return sb.String()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
