package cli

import "github.com/spf13/cobra"

func newCluster(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Per-machine configs for a cluster, and booting one under QEMU",
		Long: `A cluster is several machines booted from one image (manifests/cluster.yaml:
etcd on every member, the FleetLock reboot-lock server, SSH), each with a
per-machine config that names it, gives it a static address on the
cluster network and etcd's initial cluster (docs/cluster.md).`,
		Example: `  imgbuild build -f manifests/cluster.yaml -o out/
  imgbuild cluster configs --nodes 3 -o out/cluster
  imgbuild cluster up out/cluster.img --configs out/cluster`,
	}
	cmd.AddCommand(newClusterConfigs(env), newClusterUp(env))
	return cmd
}
