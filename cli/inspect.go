package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/images/inspect"
)

func newInspect(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's partitions, USR slot states and boot entries",
		Example: `  imgbuild inspect out/minimal.img
  imgbuild inspect --json out/minimal.img | jq .boot_entries`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("inspect takes one image path")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := inspect.Image(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printReport(env.Stdout, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printReport(w io.Writer, r *inspect.Report) {
	fmt.Fprintf(w, "%s: %.1f MiB, disk GUID %s\n\n", r.Path, float64(r.Size)/(1<<20), r.DiskGUID)
	for _, s := range r.Slots {
		slot := strings.ToUpper(s.Slot)
		switch rel := s.Release; {
		case s.Empty:
			fmt.Fprintf(w, "slot %s: empty (no release record on the ESP)\n", slot)
		case rel == nil:
			fmt.Fprintf(w, "slot %s: unreadable release record: %s\n", slot, s.Error)
		default:
			signed := "UNSIGNED"
			if rel.Signed {
				signed = "signed by key " + rel.KeyID + " (imgbuild verify --pub checks it)"
			}
			fmt.Fprintf(w, "slot %s: release %s (%s): %s\n  dm-verity root hash %s\n", slot, rel.Version, rel.Arch, signed, rel.VerityRoot)
		}
	}
	if len(r.Slots) > 0 {
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tLABEL\tSTART\tSIZE\tTYPE\tGUID\tSLOT")
	for _, p := range r.Partitions {
		slot := ""
		if s := p.Slot; s != nil {
			slot = fmt.Sprintf("priority=%d tries=%d successful=%v", s.Priority, s.Tries, s.Successful)
		}
		typ := p.Type
		if typ == "" {
			typ = p.TypeGUID
		}
		fmt.Fprintf(tw, "%d\t%s\t%d MiB\t%d MiB\t%s\t%s\t%s\n", p.Number, p.Label, p.Start>>20, p.Size>>20, typ, p.GUID, slot)
	}
	tw.Flush()
	if len(r.Entries) > 0 {
		fmt.Fprintln(w, "\nboot entries:")
		for _, e := range r.Entries {
			boot := "linux " + e.Linux + "  initrd " + e.Initrd
			if e.EFI != "" {
				boot = "efi " + e.EFI
			}
			fmt.Fprintf(w, "  %s: %s, %s\n    %s\n    options %s\n", e.File, e.Title, e.State(), boot, e.Options)
		}
	}
	if len(r.ESPFiles) > 0 {
		fmt.Fprintln(w, "\nESP files:")
		for _, f := range r.ESPFiles {
			if strings.HasPrefix(f.Path, "loader/") {
				continue
			}
			fmt.Fprintf(w, "  %-36s %9d  sha256:%s\n", f.Path, f.Size, f.SHA256)
		}
	}
}
