package network

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("/etc/systemd/network/10-x.network", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseFlatcarStyle(t *testing.T) {
	// As Flatcar's and Fedora CoreOS's docs write them, with systemd's
	// comments, continuation, repeated keys and sections.
	f := mustParse(t, `# static address on the cluster NIC
[Match]
MACAddress=52:54:00:ab:00:01

; a second [Match] header adds to the first
[Match]
Name=eth* en*

[Network]
Address=10.77.0.1/24
Address = fd00:77::1/64
Gateway=10.77.0.254
DNS=10.77.0.53 \
    10.77.0.54
DNS=fd00:77::53
DHCP=no

[Route]
Destination=192.168.50.0/24
Gateway=10.77.0.253

[Route]
Destination=172.16.0.9
`)
	want := &File{
		Path: "/etc/systemd/network/10-x.network",
		Match: Match{
			Names: []string{"eth*", "en*"},
			MACs:  []net.HardwareAddr{{0x52, 0x54, 0, 0xab, 0, 1}},
		},
		Network: Network{
			Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("fd00:77::1/64")},
			Gateways:  []netip.Addr{netip.MustParseAddr("10.77.0.254")},
			DNS:       []netip.Addr{netip.MustParseAddr("10.77.0.53"), netip.MustParseAddr("10.77.0.54"), netip.MustParseAddr("fd00:77::53")},
		},
		Routes: []Route{
			{Destination: netip.MustParsePrefix("192.168.50.0/24"), Gateway: netip.MustParseAddr("10.77.0.253")},
			{Destination: netip.MustParsePrefix("172.16.0.9/32")},
		},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got\n%+v\nwant\n%+v", f, want)
	}
}

func TestParseValues(t *testing.T) {
	for _, v := range []string{"yes", "ipv4", "true", "1", "on"} {
		if f := mustParse(t, "[Network]\nDHCP="+v+"\n"); !f.Network.DHCP {
			t.Errorf("DHCP=%s: off", v)
		}
	}
	for _, v := range []string{"no", "false", "0", ""} {
		if f := mustParse(t, "[Network]\nDHCP=yes\nDHCP="+v+"\n"); f.Network.DHCP {
			t.Errorf("DHCP=%s: on", v)
		}
	}
	// An empty assignment resets a list, as in systemd.
	f := mustParse(t, "[Network]\nDNS=1.1.1.1\nDNS=\nDNS=9.9.9.9\n[Match]\nName=eth0\nName=\nName=!lo\n")
	if len(f.Network.DNS) != 1 || f.Network.DNS[0] != netip.MustParseAddr("9.9.9.9") {
		t.Errorf("DNS after a reset: %v", f.Network.DNS)
	}
	if !f.Match.InvertName || !reflect.DeepEqual(f.Match.Names, []string{"lo"}) {
		t.Errorf("Name=!lo: %+v", f.Match)
	}
	// With DHCP the lease may bring the gateway's subnet.
	mustParse(t, "[Network]\nDHCP=yes\nGateway=192.168.1.1\n")
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // each problem's String, in order
	}{
		{"unknown key", "[Match]\nName=eth1\n\n[Network]\nAdress=10.0.0.1/24\n",
			[]string{"F:5: [Network] Adress=: unknown key (did you mean Address?)"}},
		{"keys are case-sensitive", "[Network]\naddress=10.0.0.1/24\n",
			[]string{"F:2: [Network] address=: unknown key (did you mean Address?)"}},
		{"unknown key far from any", "[Network]\nIPForward=yes\n",
			[]string{"F:2: [Network] IPForward=: unknown key (keys of [Network] imgbuild applies: Address, DHCP, DNS, Gateway)"}},
		{"unknown section, its keys not named again", "[Link]\nMTUBytes=9000\n[Network]\nDHCP=yes\n",
			[]string{"F:1: [Link]: section not supported by imgbuild images (sections imgbuild applies: Match, Network, Route)"}},
		{"bad values, every one", "[Match]\nMACAddress=52:54:00:zz:00:01\n[Network]\nAddress=10.0.0.1\nDNS=8.8.8.8 dns.google\nDHCP=ipv6\nDHCP=maybe\n",
			[]string{
				`F:2: [Match] MACAddress=: "52:54:00:zz:00:01" is not a MAC address (want xx:xx:xx:xx:xx:xx)`,
				`F:4: [Network] Address=: "10.0.0.1" is not ADDRESS/PREFIXLENGTH (e.g. 10.0.0.5/24)`,
				`F:5: [Network] DNS=: "dns.google" is not an IP address`,
				`F:6: [Network] DHCP=: DHCPv6 is not supported (yes, ipv4 or no)`,
				`F:7: [Network] DHCP=: "maybe": want yes, ipv4 or no`,
			}},
		{"outside a section", "Name=eth0\n", []string{"F:1: Name= outside of any section"}},
		{"not an assignment", "[Network]\nDHCP\n", []string{`F:2: [Network]: line "DHCP" is not KEY=VALUE`}},
		{"bad header", "[Network\nDHCP=yes\n", []string{`F:1: invalid section header "[Network"`}},
		{"gateway off link", "[Network]\nAddress=10.0.0.1/24\n# comment\nGateway=10.1.0.1\n",
			[]string{"F:4: [Network] Gateway=: 10.1.0.1 is on no subnet of this file's Address= (and DHCP is off)"}},
		{"two IPv4 gateways", "[Network]\nAddress=10.0.0.1/24\nGateway=10.0.0.2\nGateway=10.0.0.3\n",
			[]string{"F:4: [Network] Gateway=: a second IPv4 gateway (10.0.0.3 after 10.0.0.2): one default route per address family"}},
		{"route gateway", "[Network]\nAddress=10.0.0.1/24\n[Route]\nDestination=fd00::/8\nGateway=10.0.0.9\n[Route]\n",
			[]string{
				"F:5: [Route] Gateway=: 10.0.0.9 and Destination=fd00::/8 are not of one address family",
				"F:6: [Route]: neither Destination= nor Gateway=",
			}},
		{"continuation keeps the first line", "[Network]\nDNS=1.1.1.1 \\\n  nope\n", []string{`F:2: [Network] DNS=: "nope" is not an IP address`}},
		{"bad glob", "[Match]\nName=eth[\n", []string{`F:2: [Match] Name=: bad glob "eth[": syntax error in pattern`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("F", []byte(tt.text))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			var got []string
			for _, p := range e.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMatchFirstFileWins(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("50-by-mac.network", "[Match]\nMACAddress=52-54-00-ab-00-02\n[Network]\nAddress=10.0.0.2/24\n")
	write("10-eth1.network", "[Match]\nName=eth1\n[Network]\nAddress=10.0.0.1/24\n")
	write("90-rest.network", "[Match]\nName=!eth0\n[Network]\nDHCP=yes\n")
	write("README", "not a network file")
	write("00-masked.network", "")
	if err := os.Symlink("/dev/null", filepath.Join(dir, "01-masked.network")); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range set.Files {
		names = append(names, filepath.Base(f.Path))
	}
	if strings.Join(names, " ") != "10-eth1.network 50-by-mac.network 90-rest.network" {
		t.Errorf("files in order: %v", names)
	}
	mac2 := net.HardwareAddr{0x52, 0x54, 0, 0xab, 0, 2}
	for _, c := range []struct {
		nic  NIC
		want string
	}{
		{NIC{"eth1", mac2}, "10-eth1.network"}, // lexically first wins
		{NIC{"eth2", mac2}, "50-by-mac.network"},
		{NIC{"eth3", net.HardwareAddr{2, 0, 0, 0, 0, 9}}, "90-rest.network"},
		{NIC{"eth0", net.HardwareAddr{2, 0, 0, 0, 0, 9}}, ""},
	} {
		got := ""
		if f := set.Match(c.nic); f != nil {
			got = filepath.Base(f.Path)
		}
		if got != c.want {
			t.Errorf("%s %s: matched %q, want %q", c.nic.Name, c.nic.MAC, got, c.want)
		}
	}

	// The same files give the same sum; one changed byte another.
	again, _ := Load(dir)
	if again.SHA256 != set.SHA256 {
		t.Error("two loads of the same files: different sums")
	}
	write("90-rest.network", "[Match]\nName=!eth0\n[Network]\nDHCP=no\n")
	if changed, _ := Load(dir); changed.SHA256 == set.SHA256 {
		t.Error("a changed file: the same sum")
	}
}

func TestLoadRefusesAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10-good.network"), []byte("[Network]\nDHCP=yes\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "20-bad.network"), []byte("[Network]\nDHCP=yes\nMTU=1400\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "30-bond.netdev"), []byte("[NetDev]\nName=bond0\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "10-good.network.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "10-good.network.d", "mtu.conf"), []byte("[Link]\n"), 0o644)
	set, err := Load(dir)
	if set != nil {
		t.Errorf("a set with a bad file: %+v", set)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	got := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		got[i] = strings.TrimPrefix(p.String(), dir+"/")
	}
	want := []string{
		"10-good.network.d: drop-in directories are not applied; put the settings in the .network file",
		"20-bad.network:3: [Network] MTU=: unknown key (keys of [Network] imgbuild applies: Address, DHCP, DNS, Gateway)",
		"30-bond.netdev: only .network files are applied (no .netdev or .link files)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if set, err := Load(filepath.Join(dir, "missing")); err != nil || len(set.Files) != 0 {
		t.Errorf("a missing directory: %v, %v", set, err)
	}
}
