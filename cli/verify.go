package cli

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/images/verify"
	"github.com/imgbuild/imgbuild/sign"
)

func newVerify(env Env) *cobra.Command {
	var pubs []string
	cmd := &cobra.Command{
		Use:   "verify IMAGE --pub KEY.pub [--pub KEY2.pub]",
		Short: "Check an image's signed release record against its content",
		Long: `Verify reads each slot's release record and signature from the image's
ESP, checks the signature against the given public keys, recomputes the
sha256 of the slot's kernel and initramfs (or UKI sections) on the ESP
and of its USR partition, and checks the partition's dm-verity tree block
by block against the record's root hash. Slot A must have a release;
slot B is checked when an update wrote one, and reported empty otherwise.
Every check is printed; the exit code is 1 if any failed.`,
		Example: `  imgbuild verify out/minimal.img --pub keys/release.pub
  imgbuild verify out/minimal.img --pub old.pub --pub new.pub`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("verify takes one image path")}
			}
			if len(pubs) == 0 {
				return usageError{fmt.Errorf("verify needs at least one --pub key")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var keys []ed25519.PublicKey
			for _, p := range pubs {
				k, err := sign.LoadPublic(p)
				if err != nil {
					return usageError{err}
				}
				keys = append(keys, k)
			}
			slots, err := verify.VerifySlots(args[0], keys)
			if err != nil {
				return err
			}
			failed, total := 0, 0
			for _, s := range slots {
				slot := strings.ToUpper(s.Slot)
				switch {
				case s.Empty:
					fmt.Fprintf(env.Stdout, "slot %s: empty (no release record on the ESP): nothing to check\n", slot)
					continue
				case s.Release != nil:
					fmt.Fprintf(env.Stdout, "slot %s: release %s\n", slot, s.Release.Parsed.Version)
				default:
					fmt.Fprintf(env.Stdout, "slot %s:\n", slot)
				}
				failed += printChecks(env.Stdout, s.Checks)
				total += len(s.Checks)
			}
			if failed > 0 {
				return &exitError{ExitFailure, fmt.Errorf("verify %s: %d of %d checks FAILED", args[0], failed, total)}
			}
			fmt.Fprintf(env.Stdout, "%s: all %d checks ok\n", args[0], total)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pubs, "pub", nil, "trusted public key file (repeat for several)")
	return cmd
}

func printChecks(w io.Writer, checks []verify.Check) (failed int) {
	for _, c := range checks {
		if c.OK() {
			fmt.Fprintf(w, "ok      %s: %s\n", c.Name, c.Actual)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAILED  %s: %v\n          expected %s\n          actual   %s\n", c.Name, c.Err, c.Expected, c.Actual)
	}
	return failed
}
