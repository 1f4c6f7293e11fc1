package cli

import "github.com/spf13/cobra"

func newFleet(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "See and mend the machines that follow an update server",
		Long: `Fleet shows what every machine reported to imgbuild serve, why each is not
updating, and who holds the reboot lock (status), and releases a lock
whose holder never came back (docs/cluster.md).`,
	}
	cmd.AddCommand(newFleetStatus(env))
	return cmd
}
