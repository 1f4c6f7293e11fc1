// Package timeline turns a VM's console transcript into boot phases:
// seconds from QEMU's start (host clock, the time each line arrived) and,
// where the line carries it, from the kernel's start (guest clock). The
// guest clock holds on any machine; the host clock adds the firmware and
// whatever a loaded host costs.
package timeline

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// Line is one console line and when its first byte arrived, counted
// from QEMU's start.
type Line struct {
	At time.Duration
	// CPU is the CPU time QEMU had used by then: under TCG it counts the
	// guest's work whatever else the host runs, where At and the guest's
	// own clock (which follows the host's) grow with the host's load.
	CPU  time.Duration
	Text string
}

// Phase is the start (or, for stage-1's sub-phases and services, the
// end) of one boot phase.
type Phase struct {
	Name string `json:"name"`
	// Host is seconds since QEMU started; for "kernel" it is estimated
	// from the guest clock (see Parse).
	Host float64 `json:"host_s"`
	// Guest is seconds since the kernel started, when known.
	Guest *float64 `json:"guest_s,omitempty"`
	// CPU is QEMU's CPU seconds when the line arrived (0: unknown).
	CPU float64 `json:"cpu_s,omitempty"`
	// Sub marks a phase inside the one before it (stage-1's steps, each
	// service), so a table indents it.
	Sub bool `json:"sub,omitempty"`
}

// Timeline is a boot's phases in the order they happened.
type Timeline struct {
	Phases []Phase `json:"phases"`
}

var (
	kernelStamp = regexp.MustCompile(`^\[\s*(\d+\.\d+)\] `)
	sinceBoot   = regexp.MustCompile(`(\d+\.\d+)` + regexp.QuoteMeta(contract.SinceBoot))
	phaseDone   = regexp.MustCompile(`^(\S+) done at `)
	// switchAfter is stage-1's last line, which says its time its own way.
	switchAfter = regexp.MustCompile(`^switching to USR .* after (\d+\.\d+)s`)
	serviceUp   = regexp.MustCompile(`^(\S+) ready at `)
)

// Parse reads the phases of the first boot in lines. Phases whose
// marker is missing (a direct kernel boot has no firmware) are left out.
//
// The kernel's start on the host clock is the smallest difference
// between a line's arrival and the guest time it carries (a kernel
// line's timestamp, a stamped marker's seconds since boot): no line can
// arrive before it was printed, so that is the closest bound.
func Parse(lines []Line) Timeline {
	var t Timeline
	seen := map[string]bool{}
	add := func(p Phase) {
		if !seen[p.Name] {
			seen[p.Name] = true
			t.Phases = append(t.Phases, p)
		}
	}
	kernelAt := time.Duration(-1)
	for _, l := range lines {
		text := markerText(strings.TrimLeft(l.Text, "\r"))
		if len(t.Phases) == 0 && strings.TrimSpace(text) != "" {
			add(Phase{Name: "firmware", Host: ms(l.At), CPU: ms(l.CPU)})
		}
		if m := kernelStamp.FindStringSubmatch(text); m != nil {
			g := parseSeconds(m[1])
			if off := l.At - g; kernelAt < 0 || off < kernelAt {
				kernelAt = off
			}
			if strings.Contains(text, "Run /init as init process") {
				add(guestPhase("init", l, g, false))
			}
			continue
		}
		if i := strings.Index(text, "BdsDxe: starting Boot"); i >= 0 {
			add(Phase{Name: "loader", Host: ms(l.At), CPU: ms(l.CPU)})
		}
		if strings.HasPrefix(text, "EFI stub: ") {
			add(Phase{Name: "efi-stub", Host: ms(l.At), CPU: ms(l.CPU)})
		}
		if p, ok := markerPhase(text, l); ok {
			// With quiet the kernel prints no lines of its own: our
			// stamped lines bound its start as well.
			if off := l.At - seconds(*p.Guest); kernelAt < 0 || off < kernelAt {
				kernelAt = off
			}
			add(p)
			if p.Name == "healthy" {
				break
			}
		}
	}
	if kernelAt >= 0 {
		t.insertKernel(kernelAt)
	}
	return t
}

// markerPhase classifies one stage-1 or sysinit line with a guest time.
func markerPhase(text string, l Line) (Phase, bool) {
	m := sinceBoot.FindStringSubmatch(text)
	if m == nil {
		m = switchAfter.FindStringSubmatch(strings.TrimPrefix(text, contract.Stage1Marker))
	}
	if m == nil || !strings.HasPrefix(text, "imgbuild-") {
		return Phase{}, false
	}
	g := parseSeconds(m[1])
	if rest, ok := strings.CutPrefix(text, contract.Stage1Marker); ok {
		switch {
		case strings.HasPrefix(rest, "started"):
			return guestPhase("stage-1", l, g, false), true
		case strings.HasPrefix(rest, "switching to USR"):
			return guestPhase("switch", l, g, true), true
		}
		if s := phaseDone.FindStringSubmatch(rest); s != nil {
			return guestPhase(s[1], l, g, true), true
		}
		return Phase{}, false
	}
	if rest, ok := strings.CutPrefix(text, contract.SysinitMarker); ok {
		switch {
		case strings.HasPrefix(text, contract.HealthyLine):
			return guestPhase("healthy", l, g, false), true
		case strings.HasPrefix(rest, "started"):
			return guestPhase("sysinit", l, g, false), true
		}
		if s := serviceUp.FindStringSubmatch(rest); s != nil {
			return guestPhase("ready "+s[1], l, g, true), true
		}
	}
	return Phase{}, false
}

// insertKernel puts the kernel's estimated start before the first phase
// that came after it.
func (t *Timeline) insertKernel(at time.Duration) {
	zero := 0.0
	k := Phase{Name: "kernel", Host: ms(at), Guest: &zero}
	i := 0
	for i < len(t.Phases) && t.Phases[i].Guest == nil && t.Phases[i].Host <= k.Host {
		i++
	}
	t.Phases = append(t.Phases[:i], append([]Phase{k}, t.Phases[i:]...)...)
}

func guestPhase(name string, l Line, guest time.Duration, sub bool) Phase {
	g := math.Round(guest.Seconds()*1e6) / 1e6
	return Phase{Name: name, Host: ms(l.At), Guest: &g, Sub: sub, CPU: ms(l.CPU)}
}

// ms is d in seconds to the millisecond, as a transcript keeps it.
func ms(d time.Duration) float64 { return math.Round(d.Seconds()*1e3) / 1e3 }

func parseSeconds(s string) time.Duration {
	v, _ := strconv.ParseFloat(s, 64)
	return time.Duration(v * float64(time.Second))
}

// Get returns the named phase.
func (t Timeline) Get(name string) (Phase, bool) {
	for _, p := range t.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// markerText drops what a console service (the shell's prompt) left on
// the line before a marker: a marker counts mid-line too, unless the
// line is a service's output ("[name] ..."), which may quote anything.
func markerText(text string) string {
	if strings.HasPrefix(text, "[") {
		return text
	}
	for _, m := range []string{contract.Stage1Marker, contract.SysinitMarker} {
		if i := strings.Index(text, m); i > 0 {
			return text[i:]
		}
	}
	return text
}
