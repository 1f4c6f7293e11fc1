package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/sign"
)

func newKeygen(env Env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an ed25519 release signing key pair",
		Long: `Keygen writes ` + sign.PrivateKeyFile + ` (mode 0600) and ` + sign.PublicKeyFile + ` into the
directory, as PEM files openssl can read. It never overwrites a key: a
lost release key cannot be recovered, and images trusting it would need
a new key rolled out first. Sign builds with imgbuild build --sign-key;
list public keys an image should also accept (for rotation) in the
manifest's security.trusted_keys.`,
		Example: `  imgbuild keygen -o keys/
  imgbuild build -f manifests/minimal.yaml --sign-key keys/release.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			pubPath, privPath, err := sign.GenerateKey(dir)
			if err != nil {
				return err
			}
			pub, err := sign.LoadPublic(pubPath)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "key id %s\n  private %s (keep it secret)\n  public  %s\n", sign.KeyID(pub), privPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", ".", "directory for the key files")
	return cmd
}
