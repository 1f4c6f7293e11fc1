package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// The netlink tests run in a network namespace of their own (unshare
// -rn: no root needed where user namespaces are allowed), on veth pairs
// made there: this machine's own links are never touched.
const inNetnsEnv = "IMGBUILD_NETWORK_TEST_NETNS"

// inNetns says whether this process is the one in the namespace; if
// not, it runs the test there and reports its outcome.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetnsEnv) == "1" {
		return true
	}
	if testing.Short() {
		t.Skip("needs a network namespace")
	}
	if err := exec.Command("unshare", "-rn", "true").Run(); err != nil {
		t.Skipf("no network namespace for the test (unshare -rn: %v)", err)
	}
	cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test in its namespace: %v", err)
	}
	return false
}

// veth makes a veth pair, name and name+"p", the first with mac.
func veth(t *testing.T, name, mac string) NIC {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	la := netlink.NewLinkAttrs()
	la.Name, la.HardwareAddr = name, hw
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p"}); err != nil {
		t.Fatalf("veth %s: %v", name, err)
	}
	peer, _ := netlink.LinkByName(name + "p")
	if err := netlink.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	return NIC{Name: name, MAC: hw}
}

func addrs(t *testing.T, name string) string {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
	var out []string
	for _, a := range as {
		if p, ok := prefixOf(a.IPNet); ok && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func routes(t *testing.T, name string) string {
	t.Helper()
	l, _ := netlink.LinkByName(name)
	rs, _ := netlink.RouteList(l, netlink.FAMILY_V4)
	var out []string
	for _, r := range rs {
		dst := "default"
		if r.Dst != nil && r.Dst.IP != nil && !r.Dst.IP.IsUnspecified() {
			dst = r.Dst.String()
		}
		if r.Gw != nil {
			dst += " via " + r.Gw.String()
		}
		out = append(out, dst)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func TestApplyInNetns(t *testing.T) {
	if !inNetns(t) {
		return
	}
	a := veth(t, "a0", "52:54:00:ab:00:01")
	b := veth(t, "b0", "52:54:00:ab:00:02")
	// An address from an earlier DHCP lease, which the file replaces.
	lb, _ := netlink.LinkByName("b0")
	old, _ := netlink.ParseAddr("192.168.9.9/24")
	if err := netlink.AddrAdd(lb, old); err != nil {
		t.Fatal(err)
	}
	set, err := ParseAll("/etc/systemd/network", map[string][]byte{
		"10-a.network": []byte("[Match]\nMACAddress=52:54:00:ab:00:01\n[Network]\nAddress=10.77.0.1/24\nAddress=fd00:77::1/64\nGateway=10.77.0.254\n" +
			"[Route]\nDestination=192.168.50.0/24\nGateway=10.77.0.253\n[Route]\nDestination=172.16.0.9\n"),
		"20-b.network": []byte("[Match]\nName=b*\n[Network]\nAddress=10.78.0.1/16\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	plan := set.Plan([]NIC{a, b, {Name: "lo"}})
	if len(plan) != 2 {
		t.Fatalf("plan: %+v", plan)
	}
	if err := Apply(plan); err != nil {
		t.Fatal(err)
	}
	if got := addrs(t, "a0"); got != "10.77.0.1/24 fd00:77::1/64" {
		t.Errorf("a0 addresses: %s", got)
	}
	if got := routes(t, "a0"); got != "10.77.0.0/24, 172.16.0.9/32, 192.168.50.0/24 via 10.77.0.253, default via 10.77.0.254" {
		t.Errorf("a0 routes: %s", got)
	}
	if got := addrs(t, "b0"); got != "10.78.0.1/16" {
		t.Errorf("b0 addresses (the lease's must be gone): %s", got)
	}
	// Applying the same again is no error (replace, not add).
	if err := Apply(plan); err != nil {
		t.Errorf("again: %v", err)
	}

	// A failure on the second link undoes the first's changes.
	c := veth(t, "c0", "52:54:00:ab:00:03")
	lc, _ := netlink.LinkByName("c0")
	keep, _ := netlink.ParseAddr("192.168.7.7/24")
	netlink.AddrAdd(lc, keep)
	set2, err := ParseAll("/x", map[string][]byte{"10.network": []byte("[Network]\nAddress=10.79.0.1/24\n")})
	if err != nil {
		t.Fatal(err)
	}
	err = Apply(set2.Plan([]NIC{c, {Name: "nosuch0"}}))
	if err == nil || !strings.Contains(err.Error(), "nosuch0") || !strings.Contains(err.Error(), "/x/10.network") {
		t.Errorf("apply to a missing link: %v", err)
	}
	if got := addrs(t, "c0"); got != "192.168.7.7/24" {
		t.Errorf("c0 after the rollback: %s, want its address back and the file's gone", got)
	}
}

// fakeSys makes a /sys/class/net with the given NICs as physical ones.
func fakeSys(t *testing.T, nics ...NIC) string {
	t.Helper()
	dir := t.TempDir()
	for i, n := range nics {
		d := filepath.Join(dir, n.Name)
		os.MkdirAll(filepath.Join(d, "device"), 0o755)
		os.WriteFile(filepath.Join(d, "ifindex"), []byte(fmt.Sprintf("%d\n", i+2)), 0o644)
		os.WriteFile(filepath.Join(d, "address"), []byte(n.MAC.String()+"\n"), 0o644)
	}
	return dir
}

func TestConfigureInNetns(t *testing.T) {
	if !inNetns(t) {
		return
	}
	e0 := veth(t, "e0", "52:54:00:12:34:56")
	e1 := veth(t, "e1", "52:54:00:ab:00:01")
	e2 := veth(t, "e2", "52:54:00:ab:00:09")
	dir, etc := t.TempDir(), t.TempDir()
	resolv := filepath.Join(etc, "resolv.conf")
	var lines, dhcp, held []string
	m := NewMachine(Options{Dir: dir, SysClassNet: fakeSys(t, e0, e1, e2), ResolvConf: resolv,
		DHCP: func(_ context.Context, nic, rc string) (string, error) {
			dhcp = append(dhcp, nic+" resolv="+rc)
			return nic + " 10.0.2.15/24 via 10.0.2.2", nil
		},
		Hold: func(nic, rc string) { held = append(held, "hold "+nic+" resolv="+rc) },
		Drop: func(nic string) { held = append(held, "drop "+nic) },
		Logf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }})

	// No files: DHCP on the first NIC, as before there were files, and
	// its lease held for the rest of the boot.
	if !m.Configure(context.Background()) {
		t.Error("no files: not up")
	}
	if strings.Join(dhcp, "|") != "e0 resolv="+resolv || strings.Join(held, "|") != "hold e0 resolv="+resolv {
		t.Errorf("no files: DHCP on %q, held %q", dhcp, held)
	}
	// The config then writes a file: the second pass applies it and
	// leaves e0's lease alone; the nameserver is the file's.
	os.WriteFile(filepath.Join(dir, "10-seg.network"), []byte("[Match]\nMACAddress=52:54:00:ab:00:01\n[Network]\nAddress=10.77.0.1/24\nDNS=10.77.0.53\n"), 0o644)
	lines, dhcp, held = nil, nil, nil
	m.Configure(context.Background())
	if len(dhcp) != 0 {
		t.Errorf("second pass: DHCP again on %q", dhcp)
	}
	// e1's file takes it over; e0's lease is held on, no longer
	// writing resolv.conf: the file's nameserver wins.
	if strings.Join(held, "|") != "drop e1|hold e0 resolv=" {
		t.Errorf("second pass: held %q", held)
	}
	if got := addrs(t, "e1"); got != "10.77.0.1/24" {
		t.Errorf("e1: %s", got)
	}
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), "nameserver 10.77.0.53\n") {
		t.Errorf("resolv.conf: %q", b)
	}
	want := []string{
		"network e1 10.77.0.1/24 (static, from " + dir + "/10-seg.network)",
		"network e2 (52:54:00:ab:00:09): no .network file matches; not configured",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("console:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// The same files again: nothing done, nothing said.
	lines = nil
	m.Configure(context.Background())
	if len(lines) != 0 {
		t.Errorf("third pass said %q", lines)
	}

	// A fresh boot with a bad file beside the good one: nothing of
	// either is applied, a banner names the key, e0 runs DHCP.
	os.WriteFile(filepath.Join(dir, "20-bad.network"), []byte("[Match]\nName=e2\n\n[Network]\nAdress=10.77.0.9/24\n"), 0o644)
	netlink.AddrDel(mustLink(t, "e1"), &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.77.0.1/24"))})
	lines, dhcp = nil, nil
	m = NewMachine(m.o)
	if !m.Configure(context.Background()) {
		t.Error("refused files: not up (the DHCP fallback)")
	}
	con := strings.Join(lines, "\n")
	for _, w := range []string{"NETWORK CONFIG REFUSED (" + dir + ")",
		"  " + dir + "/20-bad.network:5: [Network] Adress=: unknown key (did you mean Address?)",
		"e0 (the first NIC) runs DHCP"} {
		if !strings.Contains(con, w) {
			t.Errorf("banner lacks %q:\n%s", w, con)
		}
	}
	if strings.Join(dhcp, "|") != "e0 resolv="+resolv {
		t.Errorf("refused files: DHCP on %q", dhcp)
	}
	if got := addrs(t, "e1"); got != "" {
		t.Errorf("e1 got %s from a refused set", got)
	}

	// A file for the first NIC: no DHCP there unless it says so.
	os.Remove(filepath.Join(dir, "20-bad.network"))
	os.WriteFile(filepath.Join(dir, "05-e0.network"), []byte("[Match]\nName=e0\n[Network]\nAddress=10.1.0.2/24\nDHCP=yes\n"), 0o644)
	dhcp = nil
	NewMachine(m.o).Configure(context.Background())
	if strings.Join(dhcp, "|") != "e0 resolv=" {
		t.Errorf("DHCP=yes on e0 with static DNS elsewhere: %q", dhcp)
	}
}

func mustLink(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
