package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/rootfs/journal"
)

func newLogs(env Env) *cobra.Command {
	var (
		service string
		boot    int
		all     bool
		asJSON  bool
		list    bool
	)
	cmd := &cobra.Command{
		Use:   "logs DISK",
		Short: "Print the journal kept on a stopped disk image's ROOT",
		Long: `Logs reads the journal (every service's output and sysinit's lines, kept
across reboots and rollbacks) from the ROOT partition of a disk image that
booted at least once, without mounting it or being root. --boot counts as
journalctl -b does: 0 (default) is the newest boot, -1 the one before it,
1 the oldest the journal still holds. On the machine, imgbuild-logs takes
the same flags.`,
		Example: `  imgbuild logs out/minimal.img
  imgbuild logs out/minimal.img --boot -1 --service httpd
  imgbuild logs --list-boots out/minimal.img
  imgbuild logs --json --all out/minimal.img | jq -r .msg`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("logs takes one disk image path")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, closer, err := disk.OpenROOT(args[0])
			if err != nil {
				return err
			}
			defer closer.Close()
			entries, skipped, err := journal.Read(root, strings.TrimPrefix(contract.JournalDir, "/"))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if skipped > 0 {
				fmt.Fprintf(env.Stderr, "%d damaged or torn lines skipped\n", skipped)
			}
			return journal.Show(env.Stdout, entries, journal.Query{Boot: boot, All: all, Service: service, JSON: asJSON, ListBoots: list})
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "only this service's lines (sysinit for its own)")
	f.IntVar(&boot, "boot", 0, "which boot: 0 the newest, -1 the one before, 1 the oldest kept")
	f.BoolVar(&all, "all", false, "every boot the journal holds")
	f.BoolVar(&asJSON, "json", false, "JSON lines: time, boot, service, stream, msg")
	f.BoolVar(&list, "list-boots", false, "list the boots: offset, boot id, first and last time, version")
	return cmd
}
