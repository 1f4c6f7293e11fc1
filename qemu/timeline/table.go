package timeline

import (
	"bufio"
	"fmt"
	"io"
)

// WriteTable prints one row per phase: seconds since QEMU started, the
// step from the row before, and seconds since the kernel started.
func (t Timeline) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%-22s %10s %9s %11s\n", "phase", "host (s)", "step", "guest (s)")
	prev := 0.0
	for _, p := range t.Phases {
		name := p.Name
		if p.Sub {
			name = "  " + name
		}
		guest := "—"
		if p.Guest != nil {
			guest = fmt.Sprintf("%.2f", *p.Guest)
		}
		fmt.Fprintf(bw, "%-22s %10.2f %+9.2f %11s\n", name, p.Host, p.Host-prev, guest)
		prev = p.Host
	}
	return bw.Flush()
}
