package cli

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/images/machineconfig"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

func newClusterConfigs(env Env) *cobra.Command {
	var (
		c               machineconfig.Cluster
		out, subnet, gw string
		keyFiles, dns   []string
	)
	cmd := &cobra.Command{
		Use:   "configs",
		Short: "Write one per-machine config per cluster member",
		Long: `Configs writes DIR/node1.ign ... DIR/nodeN.ign, one per member, each
checked as a booting machine checks it (imgbuild config validate): the
member's hostname, /etc/hosts naming every member, a .network file giving
the NIC on the cluster network (--interface, default eth1: the second NIC,
which imgbuild cluster up puts on a private segment) its static address,
and etcd's settings for the initial cluster (/etc/imgbuild/env/etcd.env).
Root's SSH keys come from --ssh-key; without one, the development key
imgbuild run uses.`,
		Example: `  imgbuild cluster configs --nodes 3 -o out/cluster
  imgbuild cluster configs --nodes 5 --ssh-key ~/.ssh/id_ed25519.pub --subnet 192.168.40.0/24 -o cluster/
  imgbuild cluster configs --nodes 3 --interface eth0 --subnet 10.0.5.0/24 --gateway 10.0.5.1 --dns 10.0.5.1 -o metal/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("configs needs -o DIR")}
			}
			var err error
			if subnet != "" {
				if c.Subnet, err = netip.ParsePrefix(subnet); err != nil {
					return usageError{fmt.Errorf("--subnet %q: want a network such as 10.77.0.0/24", subnet)}
				}
			}
			if gw != "" {
				if c.Gateway, err = netip.ParseAddr(gw); err != nil {
					return usageError{fmt.Errorf("--gateway %q: want an IPv4 address", gw)}
				}
			}
			for _, d := range dns {
				a, err := netip.ParseAddr(d)
				if err != nil {
					return usageError{fmt.Errorf("--dns %q: want an IP address", d)}
				}
				c.DNS = append(c.DNS, a)
			}
			if c.SSHKeys, err = authorizedKeys(keyFiles); err != nil {
				return err
			}
			members, err := c.Members()
			if err != nil {
				return usageError{err}
			}
			for _, m := range members {
				if err := checkConfig(m.Config); err != nil {
					return fmt.Errorf("%s: the config written for it is refused: %w", m.Name, err)
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for _, m := range members {
				p := filepath.Join(out, m.Name+".ign")
				if err := fsutil.WriteFile(p, m.Config, 0o600); err != nil {
					return fmt.Errorf("%s: %w", m.Name, err)
				}
				fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", p, m.Name, m.Addr)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&c.Nodes, "nodes", 3, "members (3 or 5 keep etcd's quorum through the loss of one or two)")
	fl.StringVarP(&out, "output", "o", "", "directory for the configs")
	fl.StringSliceVar(&keyFiles, "ssh-key", nil, "public key file (authorized_keys lines) for root; default: imgbuild run's development key")
	fl.StringVar(&subnet, "subnet", machineconfig.DefaultSubnet.String(), "the cluster network")
	fl.IntVar(&c.First, "first", 11, "host number of the first member in --subnet")
	fl.StringVar(&c.Prefix, "prefix", "node", "member names: PREFIX1 ... PREFIXN")
	fl.StringVar(&c.Interface, "interface", "eth1", "the NIC on the cluster network")
	fl.StringVar(&gw, "gateway", "", "default gateway on the cluster network (with --interface eth0 on a one-NIC machine)")
	fl.StringSliceVar(&dns, "dns", nil, "DNS server for the members")
	fl.StringVar(&c.Token, "token", "", "etcd's initial cluster token (default PREFIX-cluster)")
	return cmd
}

// authorizedKeys reads authorized_keys lines from files; with none, the
// development key's.
func authorizedKeys(files []string) ([]string, error) {
	if len(files) == 0 {
		_, line, err := devKey(devKeyDir())
		if err != nil {
			return nil, err
		}
		return []string{line}, nil
	}
	var keys []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key: %w", err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
				return nil, fmt.Errorf("--ssh-key %s:%d: %w (want a public key, e.g. id_ed25519.pub)", f, n+1, err)
			}
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--ssh-key %s: no keys", strings.Join(files, ", "))
	}
	return keys, nil
}
