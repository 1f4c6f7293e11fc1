package netup

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestResolvConf(t *testing.T) {
	got := ResolvConf([]net.IP{net.IPv4(10, 0, 2, 3), net.ParseIP("fec0::3")}, "example.org")
	want := "# written by imgbuild-sysinit from the DHCP lease\nsearch example.org\nnameserver 10.0.2.3\nnameserver fec0::3\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLeaseString(t *testing.T) {
	l := Lease{Interface: "eth0", Address: &net.IPNet{IP: net.IPv4(10, 0, 2, 15), Mask: net.CIDRMask(24, 32)}, Router: net.IPv4(10, 0, 2, 2)}
	if s := l.String(); s != "eth0 10.0.2.15/24 via 10.0.2.2" {
		t.Errorf("got %q", s)
	}
	l.Router = nil
	if s := l.String(); s != "eth0 10.0.2.15/24" {
		t.Errorf("got %q", s)
	}
}

func TestFirstNIC(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, index string, physical bool) {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "ifindex"), []byte(index+"\n"), 0o644)
		if physical {
			os.MkdirAll(filepath.Join(dir, name, "device"), 0o755)
		}
	}
	if got := firstNIC(dir); got != "" {
		t.Errorf("empty dir gave %q", got)
	}
	mk("lo", "1", false)
	mk("ens4", "3", true)
	mk("br0", "2", false)
	mk("eth0", "2", true)
	if got := firstNIC(dir); got != "eth0" {
		t.Errorf("got %q, want eth0", got)
	}
}
