package cli

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/release"
	"github.com/imgbuild/imgbuild/update/repo"
)

func newPromote(env Env) *cobra.Command {
	var (
		repoDir, from, to, keyFile string
		pubs                       []string
		force                      bool
	)
	cmd := &cobra.Command{
		Use:   "promote VERSION --from CHANNEL --to CHANNEL",
		Short: "Point a channel at the release another channel offers, without touching its bytes",
		Long: `Promote points --to at exactly the payload --from offers, which must be
VERSION: it verifies --from's signed metadata (with the public key of
--sign-key and any --keys-pub), checks the payload's objects are there,
and writes new signed metadata for --to. No payload byte is written:
machines on --to get the very files --from's machines got.`,
		Example: `  imgbuild promote 1.1.0 --from alpha --to beta --repo out/repo --sign-key keys/release.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repoDir == "" || from == "" || to == "" || keyFile == "" {
				return usageError{fmt.Errorf("--repo, --from, --to and --sign-key are required")}
			}
			if from == to {
				return usageError{fmt.Errorf("--from and --to are both %q", from)}
			}
			key, err := sign.LoadPrivate(keyFile)
			if err != nil {
				return fmt.Errorf("--sign-key: %w", err)
			}
			keys, err := loadPublicKeys(pubs)
			if err != nil {
				return err
			}
			keys = append(keys, key.Public().(ed25519.PublicKey))
			cur, err := release.Current(repoDir, to)
			if err != nil {
				return err
			}
			src, err := repo.ReadChannel(repo.Dir(repoDir), from, keys)
			if err != nil {
				return err
			}
			if err := release.Guard(cur, src.Name, args[0]); err != nil && !force {
				return err
			}
			c, err := repo.Promote(repoDir, args[0], from, to, keys, key, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "promoted %s %s from %s to %s in %s (since %s); no payload file was written\n",
				c.Name, c.Version, from, to, repoDir, c.Since.Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repoDir, "repo", "", "update repository directory")
	f.StringVar(&from, "from", "", "channel whose release is promoted, e.g. alpha")
	f.StringVar(&to, "to", "", "channel to point at it, e.g. beta")
	f.StringVar(&keyFile, "sign-key", "", "private key file that signs the new channel metadata")
	f.StringArrayVar(&pubs, "keys-pub", nil, "also accept --from's metadata signed by this public key (repeatable)")
	f.BoolVar(&force, "force", false, "promote even when --to offers the same or a newer version, or another image")
	return cmd
}

// loadPublicKeys loads public key files given on the command line.
func loadPublicKeys(paths []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, p := range paths {
		k, err := sign.LoadPublic(p)
		if err != nil {
			return nil, fmt.Errorf("--keys-pub %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
