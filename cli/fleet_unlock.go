package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/rootfs/cluster/fleetlock"
)

// unlockTimeout bounds the whole unlock, so a dead etcd is an error and
// not a hang.
const unlockTimeout = 30 * time.Second

func newFleetUnlock(env Env) *cobra.Command {
	var etcdURL, group string
	cmd := &cobra.Command{
		Use:   "unlock ID --etcd URL [--group G]",
		Short: "Release the reboot lock of a machine that never came back",
		Long: `Unlock releases ID's slot of the cluster's reboot lock (the FleetLock
semaphore fleetlockd keeps in etcd), for a machine that took it to
reboot and never reported back. It prints who held the lock and who
still does. An ID that holds no slot is an error naming the holders, so
a typo never leaves the real holder in place unnoticed.`,
		Example: `  imgbuild fleet unlock e0f3745b108f471cbd4883c6fbed8cdd --etcd http://10.0.0.11:2379
  imgbuild fleet unlock node3 --etcd http://127.0.0.1:2379 --group workers`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if etcdURL == "" {
				return usageError{fmt.Errorf("--etcd is required")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), unlockTimeout)
			defer cancel()
			return fleetUnlock(ctx, env, strings.Split(etcdURL, ","), group, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&etcdURL, "etcd", "", "etcd client URLs of a cluster member, comma-separated")
	f.StringVar(&group, "group", "default", "the machine's reboot group")
	return cmd
}

func fleetUnlock(ctx context.Context, env Env, endpoints []string, group, id string) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return fmt.Errorf("fleet unlock: etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	defer c.Close()
	before, after, err := fleetlock.New(c, nil).Release(ctx, group, id)
	if err != nil {
		return fmt.Errorf("fleet unlock: %w", err)
	}
	fmt.Fprintf(env.Stdout, "released %s from group %s (held by %s)\n", id, group, holderList(before.Holders))
	fmt.Fprintf(env.Stdout, "now %d of %d slots held by %s\n", len(after.Holders), after.TotalSlots, holderList(after.Holders))
	return nil
}

func holderList(h []string) string {
	if len(h) == 0 {
		return "nobody"
	}
	return strings.Join(h, ", ")
}
