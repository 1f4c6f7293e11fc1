package network

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Options say where a booting machine's files and NICs are and how it
// runs DHCP.
type Options struct {
	Dir         string // the .network files, contract.NetworkDir
	SysClassNet string // /sys/class/net
	ResolvConf  string // /etc/resolv.conf
	// DHCP runs DHCPv4 on nic and applies the lease (package netup),
	// writing resolvConf unless it is "", and describes the lease in the
	// "eth0 10.0.2.15/24 via 10.0.2.2" form.
	DHCP func(ctx context.Context, nic, resolvConf string) (string, error)
	// Hold, when set, keeps a DHCP NIC's lease for the rest of the boot
	// after Configure's exchange, or keeps asking when that went
	// unanswered; Drop stops that before a file's configuration takes
	// the NIC over (netup.Keeper).
	Hold func(nic, resolvConf string)
	Drop func(nic string)
	// Logf prints one console line (sysinit adds its marker).
	Logf func(format string, args ...any)
}

// Machine configures a booting machine's NICs, once or twice a boot:
// a first boot whose per-machine config needs the network before it has
// written the files runs DHCP first and the files after.
type Machine struct {
	o      Options
	leased map[string]bool // NICs with a DHCP lease this boot
	sum    *[32]byte       // of the set applied last
	up     bool
}

// NewMachine returns a Machine that has configured nothing yet.
func NewMachine(o Options) *Machine { return &Machine{o: o, leased: map[string]bool{}} }

// Configure reads and checks every .network file, then configures every
// NIC: each NIC a file matches gets that file's static configuration
// (and DHCP when the file says DHCP=yes); the first NIC, when no file
// matches it, runs DHCP as an image without files does; other NICs no
// file matches are left alone. If any file is refused, or cannot be
// applied, none is: a banner names every problem and the first NIC runs
// DHCP, so that the machine stays reachable. Called again with the same
// files it changes nothing. It reports whether some NIC has an address.
func (m *Machine) Configure(ctx context.Context) bool {
	nics, err := WaitNICs(ctx, m.o.SysClassNet)
	if err != nil {
		m.o.Logf("%v; continuing without network", err)
		return false
	}
	set, err := Load(m.o.Dir)
	if err == nil && m.sum != nil && set.SHA256 == *m.sum {
		return m.up
	}
	var plan []LinkConfig
	if err == nil {
		plan = set.Plan(nics)
		for _, lc := range plan {
			m.leased[lc.NIC.Name] = false // Apply replaces a lease's address
			if m.o.Drop != nil {
				m.o.Drop(lc.NIC.Name)
			}
		}
		err = Apply(plan)
	}
	resolv := m.o.ResolvConf
	if err != nil {
		m.banner(err, nics[0])
		plan = nil
	} else {
		m.sum = &set.SHA256
		if dns := DNS(plan); len(dns) > 0 && resolv != "" {
			if werr := fsutil.WriteFile(resolv, []byte(ResolvConf(dns)), 0o644); werr != nil {
				m.o.Logf("network: %s: %v", resolv, werr)
			}
			resolv = "" // the files' nameservers win over a lease's
		}
	}
	up := m.report(plan, nics, set)
	for _, nic := range dhcpNICs(plan, nics) {
		if m.leased[nic] {
			up = true
			continue
		}
		lease, err := m.o.DHCP(ctx, nic, resolv)
		if err != nil {
			m.o.Logf("%v; continuing without network on %s", err, nic)
			continue
		}
		m.leased[nic], up = true, true
		m.o.Logf("network %s", lease)
	}
	if m.o.Hold != nil {
		for _, nic := range dhcpNICs(plan, nics) {
			m.o.Hold(nic, resolv)
		}
	}
	m.up = up
	return up
}

// report prints one line per NIC a file configured, and one per NIC
// left alone when there are files; it says whether some NIC has a
// static address.
func (m *Machine) report(plan []LinkConfig, nics []NIC, set *Set) bool {
	up := false
	matched := map[string]bool{}
	for _, lc := range plan {
		matched[lc.NIC.Name] = true
		var parts []string
		for _, a := range lc.File.Network.Addresses {
			parts = append(parts, a.String())
		}
		for _, gw := range lc.File.Network.Gateways {
			parts = append(parts, "via "+gw.String())
		}
		if len(lc.File.Routes) > 0 {
			parts = append(parts, fmt.Sprintf("%d routes", len(lc.File.Routes)))
		}
		if lc.File.Network.DHCP {
			parts = append(parts, "and DHCP")
		}
		if len(parts) == 0 {
			parts = append(parts, "up, no address")
		}
		up = up || len(lc.File.Network.Addresses) > 0
		m.o.Logf("network %s %s (static, from %s)", lc.NIC.Name, strings.Join(parts, " "), lc.File.Path)
	}
	if set == nil || len(set.Files) == 0 {
		return up
	}
	for _, n := range nics[1:] {
		if !matched[n.Name] {
			m.o.Logf("network %s (%s): no .network file matches; not configured", n.Name, n.MAC)
		}
	}
	return up
}

// dhcpNICs are the NICs that run DHCP: those whose file says DHCP=yes,
// and the first NIC when no file matches it.
func dhcpNICs(plan []LinkConfig, nics []NIC) []string {
	var out []string
	first := true
	for _, lc := range plan {
		if lc.NIC.Name == nics[0].Name {
			first = false
		}
		if lc.File.Network.DHCP {
			out = append(out, lc.NIC.Name)
		}
	}
	if first {
		out = append([]string{nics[0].Name}, out...)
	}
	return out
}

// banner names every problem between two rules, as the refused
// per-machine config's banner does; the boot goes on.
func (m *Machine) banner(err error, first NIC) {
	lines := []string{contract.BannerRule,
		strings.TrimPrefix(contract.NetworkRefusedLine, contract.SysinitMarker) + " (" + m.o.Dir + ")"}
	var e *Error
	if errors.As(err, &e) {
		for _, p := range e.Problems {
			lines = append(lines, "  "+p.String())
		}
	} else {
		lines = append(lines, "  "+err.Error())
	}
	lines = append(lines,
		"none of the .network files was applied; "+first.Name+" (the first NIC) runs DHCP so that the machine stays reachable",
		"fix the files (imgbuild config validate checks those a config carries) and boot again",
		contract.BannerRule)
	for _, l := range lines {
		m.o.Logf("%s", l)
	}
}
