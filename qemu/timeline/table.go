package timeline

import (
	"bufio"
	"fmt"
	"io"
)

// WriteTable prints one row per phase: seconds since QEMU started, the
// step from the row before, QEMU's CPU seconds and their step, and
// seconds since the kernel started.
func (t Timeline) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%-22s %9s %8s %8s %8s %10s\n", "phase", "host (s)", "step", "cpu (s)", "step", "guest (s)")
	prev, prevCPU := 0.0, 0.0
	for _, p := range t.Phases {
		name := p.Name
		if p.Sub {
			name = "  " + name
		}
		guest := "—"
		if p.Guest != nil {
			guest = fmt.Sprintf("%.2f", *p.Guest)
		}
		cpu, cpuStep := "—", ""
		if p.CPU > 0 {
			cpu, cpuStep = fmt.Sprintf("%.2f", p.CPU), fmt.Sprintf("%+.2f", p.CPU-prevCPU)
			prevCPU = p.CPU
		}
		fmt.Fprintf(bw, "%-22s %9.2f %+8.2f %8s %8s %10s\n", name, p.Host, p.Host-prev, cpu, cpuStep, guest)
		prev = p.Host
	}
	return bw.Flush()
}
