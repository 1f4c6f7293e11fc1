// Package netup configures the network of a booted image: loopback, and
// DHCPv4 on the first physical NIC (address, default route, resolv.conf).
package netup

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Lease is the configuration applied from DHCP.
type Lease struct {
	Interface string
	Address   *net.IPNet
	Router    net.IP // nil when the server sent none
	DNS       []net.IP
	Domain    string
	Duration  time.Duration
	// At is when the server acknowledged it: renewal counts from here.
	At time.Time
	// dhcp is the exchange, which a renewal starts from.
	dhcp *nclient4.Lease
}

// String gives the "eth0 10.0.2.15/24 via 10.0.2.2" form of the console line.
func (l Lease) String() string {
	s := l.Interface + " " + l.Address.String()
	if l.Router != nil {
		s += " via " + l.Router.String()
	}
	return s
}

// LoopbackUp brings lo up (the kernel gives it 127.0.0.1 then).
func LoopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: lo up: %w", err)
	}
	return nil
}

// FirstNIC waits (until ctx ends) for a physical network interface, one
// with a device behind it in sysfs, and returns the lowest-indexed one.
func FirstNIC(ctx context.Context, sysClassNet string) (string, error) {
	for {
		if name := firstNIC(sysClassNet); name != "" {
			return name, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("network: no network interface: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func firstNIC(sysClassNet string) string {
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return ""
	}
	type nic struct {
		name  string
		index int
	}
	var nics []nic
	for _, e := range ents {
		dir := filepath.Join(sysClassNet, e.Name())
		// Virtual interfaces (lo, bridges, tunnels) have no device link.
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
			continue
		}
		var idx int
		b, _ := os.ReadFile(filepath.Join(dir, "ifindex"))
		fmt.Sscan(strings.TrimSpace(string(b)), &idx)
		nics = append(nics, nic{e.Name(), idx})
	}
	if len(nics) == 0 {
		return ""
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].index < nics[j].index })
	return nics[0].name
}

// Each DHCP message is sent up to dhcpTries times, nclient4 waiting
// dhcpTryTimeout for the first answer and doubling the wait each try;
// sysinit's network wait may end the tries sooner.
// (Variables for the tests' sake.)
var (
	dhcpTries      = 3
	dhcpTryTimeout = 2 * time.Second
)

// DHCP brings ifname up, runs a DHCPv4 exchange, and applies the lease:
// address, default route and resolvConf (skipped when empty).
func DHCP(ctx context.Context, ifname, resolvConf string) (*Lease, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("network: %s: %w", ifname, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("network: %s up: %w", ifname, err)
	}
	client, err := nclient4.New(ifname, nclient4.WithTimeout(dhcpTryTimeout), nclient4.WithRetry(dhcpTries))
	if err != nil {
		return nil, fmt.Errorf("network: dhcp on %s: %w", ifname, err)
	}
	defer client.Close()
	start := time.Now()
	nl, err := exchange(ctx, client)
	if err != nil {
		// The console says how long it tried, so that a NIC with no
		// DHCP server behind it reads as that and not as a hang.
		return nil, fmt.Errorf("network: dhcp on %s: %w (up to %d tries, waiting %s then doubling; gave up after %.1fs)",
			ifname, err, dhcpTries, dhcpTryTimeout, time.Since(start).Seconds())
	}
	lease := leaseOf(ifname, nl)
	if err := lease.apply(link, resolvConf); err != nil {
		return nil, err
	}
	return lease, nil
}

// leaseOf reads an acknowledged exchange.
func leaseOf(ifname string, nl *nclient4.Lease) *Lease {
	ack := nl.ACK
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	lease := &Lease{
		Interface: ifname,
		Address:   &net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask},
		DNS:       ack.DNS(),
		Domain:    ack.DomainName(),
		Duration:  ack.IPAddressLeaseTime(0),
		At:        nl.CreationTime,
		dhcp:      nl,
	}
	if r := ack.Router(); len(r) > 0 {
		lease.Router = r[0]
	}
	return lease
}

// finite reports whether the lease ends: a lease time of 0xffffffff
// seconds is infinite (RFC 2131), and so is none.
func (l *Lease) finite() bool {
	return l.Duration > 0 && l.Duration < 0xffffffff*time.Second
}

// apply sets the lease's address, its default route and resolvConf
// (skipped when empty). A finite lease's address carries the lease's
// lifetime, so that the kernel drops it when the lease ends unrenewed
// rather than keep an address the server may give another machine.
func (l *Lease) apply(link netlink.Link, resolvConf string) error {
	addr := &netlink.Addr{IPNet: l.Address}
	if l.finite() {
		secs := int(l.Duration / time.Second)
		addr.ValidLft, addr.PreferedLft = secs, secs
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("network: add %s to %s: %w", l.Address, l.Interface, err)
	}
	if l.Router != nil {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.Router,
			Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("network: default route via %s: %w", l.Router, err)
		}
	}
	if resolvConf != "" && len(l.DNS) > 0 {
		// resolv.conf may be a dangling symlink from a factory file;
		// the rename replaces it with a regular file, which is what we want.
		if err := fsutil.WriteFile(resolvConf, []byte(ResolvConf(l.DNS, l.Domain)), 0o644); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// ResolvConf renders resolv.conf contents.
func ResolvConf(dns []net.IP, domain string) string {
	var b strings.Builder
	b.WriteString("# written by imgbuild-sysinit from the DHCP lease\n")
	if domain != "" {
		fmt.Fprintf(&b, "search %s\n", domain)
	}
	for _, ip := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", ip)
	}
	return b.String()
}
