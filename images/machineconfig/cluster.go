// Package machineconfig writes per-machine configs (Ignition spec v3)
// for a group of machines booted from one image: a cluster's members,
// each with its own name, static address on the cluster's network, and
// etcd's settings for the initial cluster. The machine applies them as
// any config (rootfs/sysinit/ignition); nothing here runs on it.
package machineconfig

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/ignition/v2/config/v3_4/types"

	"github.com/imgbuild/imgbuild/contract"
)

// Paths a cluster member's config writes.
const (
	NetworkFile  = contract.NetworkDir + "/10-cluster.network"
	EtcdEnvFile  = contract.ServiceEnvDir + "/etcd.env"
	HostsFile    = "/etc/hosts"
	HostnameFile = "/etc/hostname"
)

// Cluster describes the members to write configs for.
type Cluster struct {
	Nodes  int          // members, 1 or more (3 or 5 for a cluster that survives a loss)
	Prefix string       // member names are Prefix1..PrefixN; default "node"
	Subnet netip.Prefix // the cluster's network; default DefaultSubnet
	// First is the host number of member 1 in Subnet (member i has
	// First+i-1); default 11, leaving the low addresses to routers.
	First int
	// Interface is the NIC on the cluster network, matched by name;
	// default eth1, the second NIC (imgbuild cluster up's segment; the
	// first keeps DHCP for the host). A one-NIC machine uses eth0 and
	// gives Gateway and DNS.
	Interface string
	Gateway   netip.Addr // optional
	DNS       []netip.Addr
	SSHKeys   []string // authorized_keys lines for root
	// Token is etcd's initial cluster token: two clusters on one
	// network with different tokens never join each other.
	Token string
	// HeartbeatMS and ElectionMS are etcd's raft timings; 0: 250 and
	// 2500, ten times what etcd assumes for a LAN, for machines that
	// are emulated (QEMU's TCG) or share their CPUs.
	HeartbeatMS, ElectionMS int
}

// DefaultSubnet is the cluster network when none is given: private
// (RFC 1918) and unlikely to clash with a host's own.
var DefaultSubnet = netip.MustParsePrefix("10.77.0.0/24")

// Member is one machine's config.
type Member struct {
	Name   string
	Addr   netip.Addr
	Config []byte // Ignition JSON
}

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,50}$`)

func (c *Cluster) defaults() error {
	if c.Nodes < 1 {
		return fmt.Errorf("cluster: --nodes %d: want 1 or more", c.Nodes)
	}
	if c.Prefix == "" {
		c.Prefix = "node"
	}
	if !prefixRE.MatchString(c.Prefix) {
		return fmt.Errorf("cluster: name prefix %q: want lower case letters, digits and dashes, starting with a letter", c.Prefix)
	}
	if !c.Subnet.IsValid() {
		c.Subnet = DefaultSubnet
	}
	if !c.Subnet.Addr().Is4() {
		return fmt.Errorf("cluster: --subnet %s: want an IPv4 network such as 10.77.0.0/24", c.Subnet)
	}
	c.Subnet = c.Subnet.Masked()
	if c.First == 0 {
		c.First = 11
	}
	hosts := 1<<(32-c.Subnet.Bits()) - 2 // less network and broadcast
	if c.First < 1 || c.First+c.Nodes-1 > hosts {
		return fmt.Errorf("cluster: --subnet %s has %d host addresses: %d members from host %d do not fit", c.Subnet, hosts, c.Nodes, c.First)
	}
	if c.Gateway.IsValid() && !c.Subnet.Contains(c.Gateway) {
		return fmt.Errorf("cluster: --gateway %s is outside --subnet %s", c.Gateway, c.Subnet)
	}
	if c.Interface == "" {
		c.Interface = "eth1"
	}
	if strings.ContainsAny(c.Interface, " \t\n/") {
		return fmt.Errorf("cluster: --interface %q: want a NIC name such as eth1", c.Interface)
	}
	if c.Token == "" {
		c.Token = c.Prefix + "-cluster"
	}
	if c.HeartbeatMS == 0 {
		c.HeartbeatMS = 250
	}
	if c.ElectionMS == 0 {
		c.ElectionMS = 10 * c.HeartbeatMS
	}
	if c.ElectionMS < 5*c.HeartbeatMS {
		return fmt.Errorf("cluster: etcd election timeout %dms: want at least five heartbeats (%dms)", c.ElectionMS, 5*c.HeartbeatMS)
	}
	return nil
}

// Addr is member i's (1-based) address.
func (c *Cluster) addr(i int) netip.Addr {
	a := c.Subnet.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n += uint32(c.First + i - 1)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// Members returns every member's config, in order.
func (c Cluster) Members() ([]Member, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	var peers, hosts []string
	for i := 1; i <= c.Nodes; i++ {
		name, a := fmt.Sprintf("%s%d", c.Prefix, i), c.addr(i)
		peers = append(peers, fmt.Sprintf("%s=http://%s:2380", name, a))
		hosts = append(hosts, fmt.Sprintf("%s %s", a, name))
	}
	out := make([]Member, c.Nodes)
	for i := 1; i <= c.Nodes; i++ {
		name, a := fmt.Sprintf("%s%d", c.Prefix, i), c.addr(i)
		cfg := types.Config{Ignition: types.Ignition{Version: "3.4.0"}}
		if len(c.SSHKeys) > 0 {
			u := types.PasswdUser{Name: "root"}
			for _, k := range c.SSHKeys {
				u.SSHAuthorizedKeys = append(u.SSHAuthorizedKeys, types.SSHAuthorizedKey(k))
			}
			cfg.Passwd.Users = []types.PasswdUser{u}
		}
		cfg.Storage.Files = []types.File{
			file(HostnameFile, name+"\n", 0o644),
			file(HostsFile, "127.0.0.1 localhost\n"+strings.Join(hosts, "\n")+"\n", 0o644),
			file(NetworkFile, c.network(a), 0o644),
			file(EtcdEnvFile, c.etcdEnv(name, a, peers), 0o644),
		}
		raw, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("cluster: %s: %w", name, err)
		}
		out[i-1] = Member{Name: name, Addr: a, Config: append(raw, '\n')}
	}
	return out, nil
}

func (c *Cluster) network(a netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by imgbuild cluster configs: the cluster network\n[Match]\nName=%s\n\n[Network]\nAddress=%s\n", c.Interface, netip.PrefixFrom(a, c.Subnet.Bits()))
	if c.Gateway.IsValid() {
		fmt.Fprintf(&b, "Gateway=%s\n", c.Gateway)
	}
	for _, d := range c.DNS {
		fmt.Fprintf(&b, "DNS=%s\n", d)
	}
	return b.String()
}

// etcdEnv is the etcd service's settings: etcd reads ETCD_* variables
// for each of its flags, so the image's manifest stays the same for
// every member.
func (c *Cluster) etcdEnv(name string, a netip.Addr, peers []string) string {
	lines := []string{
		"# written by imgbuild cluster configs: this member of the initial cluster",
		"ETCD_NAME=" + name,
		"ETCD_INITIAL_CLUSTER=" + strings.Join(peers, ","),
		"ETCD_INITIAL_CLUSTER_STATE=new",
		"ETCD_INITIAL_CLUSTER_TOKEN=" + c.Token,
		fmt.Sprintf("ETCD_INITIAL_ADVERTISE_PEER_URLS=http://%s:2380", a),
		fmt.Sprintf("ETCD_LISTEN_PEER_URLS=http://%s:2380", a),
		"ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379",
		fmt.Sprintf("ETCD_ADVERTISE_CLIENT_URLS=http://%s:2379", a),
		fmt.Sprintf("ETCD_HEARTBEAT_INTERVAL=%d", c.HeartbeatMS),
		fmt.Sprintf("ETCD_ELECTION_TIMEOUT=%d", c.ElectionMS),
	}
	return strings.Join(lines, "\n") + "\n"
}

func file(path, content string, mode int) types.File {
	src := "data:," + url.PathEscape(content)
	f := types.File{Node: types.Node{Path: path, Overwrite: util.BoolToPtr(true)}}
	f.Contents.Source = util.StrToPtr(src)
	f.Mode = util.IntToPtr(mode)
	return f
}
