package machineconfig

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/rootfs/network"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
)

// files parses a member's config as a machine would and returns its
// files' contents by path.
func files(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	cfg, err := ignition.Parse(raw)
	if err != nil {
		t.Fatalf("the machine's parser refuses the config: %v\n%s", err, raw)
	}
	entries, err := cfg.FilesUnder("/etc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Path] = string(e.Data)
	}
	return out
}

func TestThreeMembers(t *testing.T) {
	ms, err := Cluster{Nodes: 3, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDkM3V1sDkd0mHfv5bD2gGkN5Xq4cBvGz1bK6c0pQX1y me@laptop"}}.Members()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d members", len(ms))
	}
	const peers = "ETCD_INITIAL_CLUSTER=node1=http://10.77.0.11:2380,node2=http://10.77.0.12:2380,node3=http://10.77.0.13:2380\n"
	for i, m := range ms {
		want := netip.AddrFrom4([4]byte{10, 77, 0, byte(11 + i)})
		if m.Addr != want || m.Name != []string{"node1", "node2", "node3"}[i] {
			t.Errorf("member %d: %s %s", i, m.Name, m.Addr)
		}
		fs := files(t, m.Config)
		if fs[HostnameFile] != m.Name+"\n" {
			t.Errorf("%s hostname %q", m.Name, fs[HostnameFile])
		}
		env := fs[EtcdEnvFile]
		for _, line := range []string{"ETCD_NAME=" + m.Name + "\n", peers, "ETCD_LISTEN_PEER_URLS=http://" + want.String() + ":2380\n",
			"ETCD_ADVERTISE_CLIENT_URLS=http://" + want.String() + ":2379\n", "ETCD_INITIAL_CLUSTER_TOKEN=node-cluster\n"} {
			if !strings.Contains(env, line) {
				t.Errorf("%s etcd.env lacks %q:\n%s", m.Name, line, env)
			}
		}
		nf, err := network.Parse(NetworkFile, []byte(fs[NetworkFile]))
		if err != nil {
			t.Fatalf("%s: the machine's parser refuses the network file: %v", m.Name, err)
		}
		if len(nf.Match.Names) != 1 || nf.Match.Names[0] != "eth1" || len(nf.Network.Addresses) != 1 || nf.Network.Addresses[0] != netip.PrefixFrom(want, 24) {
			t.Errorf("%s network file: %+v", m.Name, nf)
		}
		if !strings.Contains(fs[HostsFile], "10.77.0.13 node3\n") {
			t.Errorf("%s hosts: %q", m.Name, fs[HostsFile])
		}
		if !strings.Contains(string(m.Config), "me@laptop") {
			t.Errorf("%s: no ssh key", m.Name)
		}
	}
}

func TestOptions(t *testing.T) {
	ms, err := Cluster{Nodes: 2, Prefix: "etcd", Subnet: netip.MustParsePrefix("192.168.5.77/24"), First: 100, Interface: "eth0",
		Gateway: netip.MustParseAddr("192.168.5.1"), DNS: []netip.Addr{netip.MustParseAddr("192.168.5.53")}}.Members()
	if err != nil {
		t.Fatal(err)
	}
	fs := files(t, ms[1].Config)
	if ms[1].Name != "etcd2" || ms[1].Addr.String() != "192.168.5.101" {
		t.Errorf("member 2: %s %s", ms[1].Name, ms[1].Addr)
	}
	for _, want := range []string{"Name=eth0\n", "Address=192.168.5.101/24\n", "Gateway=192.168.5.1\n", "DNS=192.168.5.53\n"} {
		if !strings.Contains(fs[NetworkFile], want) {
			t.Errorf("network file lacks %q:\n%s", want, fs[NetworkFile])
		}
	}
	if strings.Contains(string(ms[0].Config), "sshAuthorizedKeys") {
		t.Error("a config without keys gives root keys")
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct {
		c    Cluster
		want string
	}{
		{Cluster{Nodes: 0}, "--nodes 0"},
		{Cluster{Nodes: 3, Subnet: netip.MustParsePrefix("10.0.0.0/29")}, "10.0.0.0/29 has 6 host addresses: 3 members from host 11 do not fit"},
		{Cluster{Nodes: 3, Subnet: netip.MustParsePrefix("fd00::/64")}, "want an IPv4 network"},
		{Cluster{Nodes: 3, Gateway: netip.MustParseAddr("10.1.0.1")}, "--gateway 10.1.0.1 is outside --subnet 10.77.0.0/24"},
		{Cluster{Nodes: 3, Prefix: "Node_"}, `name prefix "Node_"`},
		{Cluster{Nodes: 3, HeartbeatMS: 100, ElectionMS: 200}, "want at least five heartbeats"},
	} {
		_, err := c.c.Members()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.c, err, c.want)
		}
	}
}
