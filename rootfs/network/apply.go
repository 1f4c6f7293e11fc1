package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NICs lists the physical network interfaces under sysClassNet (those
// with a device behind them: not lo, bridges or tunnels), lowest
// interface index first, with their MAC addresses.
func NICs(sysClassNet string) ([]NIC, error) {
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	type indexed struct {
		NIC
		index int
	}
	var nics []indexed
	for _, e := range ents {
		dir := filepath.Join(sysClassNet, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, "ifindex"))
		idx, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		a, _ := os.ReadFile(filepath.Join(dir, "address"))
		mac, _ := net.ParseMAC(strings.TrimSpace(string(a)))
		nics = append(nics, indexed{NIC{Name: e.Name(), MAC: mac}, idx})
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].index < nics[j].index })
	out := make([]NIC, len(nics))
	for i, n := range nics {
		out[i] = n.NIC
	}
	return out, nil
}

// WaitNICs waits (until ctx ends) for a first physical NIC and returns
// every one there is then. The kernel probes the NICs of the drivers
// stage-1 loaded as it loads them, so those present together with the
// first are all there are.
func WaitNICs(ctx context.Context, sysClassNet string) ([]NIC, error) {
	for {
		if nics, err := NICs(sysClassNet); err == nil && len(nics) > 0 {
			return nics, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("network: no network interface: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LinkConfig is one NIC and the file that configures it.
type LinkConfig struct {
	NIC  NIC
	File *File
}

// Plan pairs each NIC with the first file that matches it; NICs that no
// file matches are left out.
func (s *Set) Plan(nics []NIC) []LinkConfig {
	var out []LinkConfig
	for _, n := range nics {
		if f := s.Match(n); f != nil {
			out = append(out, LinkConfig{NIC: n, File: f})
		}
	}
	return out
}

// DNS is every nameserver the planned files name, in plan order, once.
func DNS(plan []LinkConfig) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, lc := range plan {
		for _, a := range lc.File.Network.DNS {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// ResolvConf renders resolv.conf for nameservers.
func ResolvConf(dns []netip.Addr) string {
	var b strings.Builder
	b.WriteString("# written by imgbuild-sysinit from the DNS= of the .network files\n")
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.String()
}

// Apply configures each planned NIC with netlink: the link up, exactly
// its file's static addresses (other global addresses go, such as a
// lease an earlier DHCP took), the default routes of its Gateway= and
// its [Route]s. On an error it undoes what it changed, as far as the
// kernel lets it, and names the NIC and the file.
func Apply(plan []LinkConfig) error {
	var undo []func()
	rollback := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	for _, lc := range plan {
		u, err := applyLink(lc)
		undo = append(undo, u...)
		if err != nil {
			rollback()
			return fmt.Errorf("%s (%s, from %s): %w", lc.NIC.Name, lc.NIC.MAC, lc.File.Path, err)
		}
	}
	return nil
}

func applyLink(lc LinkConfig) (undo []func(), err error) {
	link, err := netlink.LinkByName(lc.NIC.Name)
	if err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("link up: %w", err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range lc.File.Network.Addresses {
		want[p] = true
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	had := map[netip.Prefix]bool{}
	for _, a := range have {
		p, ok := prefixOf(a.IPNet)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue // link-local IPv6 and the like stay
		}
		had[p] = true
		if want[p] {
			continue
		}
		a := a
		if err := netlink.AddrDel(link, &a); err != nil {
			return undo, fmt.Errorf("remove %s: %w", p, err)
		}
		undo = append(undo, func() { _ = netlink.AddrAdd(link, &a) })
	}
	for _, p := range lc.File.Network.Addresses {
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return undo, fmt.Errorf("add %s: %w", p, err)
		}
		if !had[p] {
			undo = append(undo, func() { _ = netlink.AddrDel(link, addr) })
		}
	}
	var routes []Route
	for _, gw := range lc.File.Network.Gateways {
		routes = append(routes, Route{Gateway: gw})
	}
	routes = append(routes, lc.File.Routes...)
	for _, r := range routes {
		nr := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: routeDst(r)}
		if r.Gateway.IsValid() {
			nr.Gw = net.IP(r.Gateway.AsSlice())
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := netlink.RouteReplace(nr); err != nil {
			return undo, fmt.Errorf("route %s: %w", describe(r), err)
		}
		undo = append(undo, func() { _ = netlink.RouteDel(nr) })
	}
	return undo, nil
}

// routeDst is r's destination; the default route of r's family when it
// has none.
func routeDst(r Route) *net.IPNet {
	if r.Destination.IsValid() {
		return ipNet(r.Destination)
	}
	if r.Gateway.Is4() {
		return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}

func describe(r Route) string {
	dst := "default"
	if r.Destination.IsValid() {
		dst = r.Destination.String()
	}
	if r.Gateway.IsValid() {
		return dst + " via " + r.Gateway.String()
	}
	return dst + " on the link"
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := p.Addr().BitLen()
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}
