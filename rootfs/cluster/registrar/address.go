package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/imgbuild/imgbuild/rootfs/network"
)

// defaultAddress is the machine's address on the cluster network: the
// first static address of the .network files in dir (a cluster member's
// config gives each one), else the first global unicast IPv4 of the
// NICs (a DHCP lease).
func defaultAddress(dir string) (string, error) {
	set, err := network.Load(dir)
	if err != nil {
		return "", err
	}
	if a, ok := staticAddress(set); ok {
		return a.String(), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("address: %w", err)
	}
	if a, ok := firstGlobalIPv4(addrs); ok {
		return a.String(), nil
	}
	return "", fmt.Errorf("address: no static address in %s and no global IPv4 on any NIC; set -address or REGISTRAR_ADDRESS", dir)
}

func staticAddress(set *network.Set) (netip.Addr, bool) {
	for _, f := range set.Files {
		for _, p := range f.Network.Addresses {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

func firstGlobalIPv4(addrs []net.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if ip = ip.Unmap(); ok && ip.Is4() && ip.IsGlobalUnicast() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
