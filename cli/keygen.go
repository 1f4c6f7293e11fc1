package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

func newKeygen(env Env) *cobra.Command {
	var (
		dir, name  string
		secureBoot bool
		bits       int
	)
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an ed25519 release signing key pair, or a Secure Boot key set",
		Long: `Keygen writes ` + sign.PrivateKeyFile + ` (mode 0600) and ` + sign.PublicKeyFile + ` into the
directory, as PEM files openssl can read. It never overwrites a key: a
lost release key cannot be recovered, and images trusting it would need
a new key rolled out first. Sign builds with imgbuild build --sign-key;
list public keys an image should also accept (for rotation) in the
manifest's security.trusted_keys.

With --secure-boot it writes a UEFI Secure Boot chain instead: RSA keys
(PK.key, KEK.key, db.key, mode 0600) with self-signed X.509 certificates
(PK.crt, KEK.crt, db.crt), and PK.auth (signed by PK), KEK.auth (signed
by PK) and db.auth (signed by KEK): authenticated variable writes that
systemd-boot enrolls on a machine in setup mode. Their timestamp is
SOURCE_DATE_EPOCH when set, else now; a later update of a variable must
carry a newer one. Use the directory with imgbuild build
--secure-boot-keys.`,
		Example: `  imgbuild keygen -o keys/
  imgbuild build -f manifests/minimal.yaml --sign-key keys/release.key
  imgbuild keygen --secure-boot -o sbkeys/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if secureBoot {
				return keygenSecureBoot(env, dir, name, bits)
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
	cmd.Flags().BoolVar(&secureBoot, "secure-boot", false, "make a UEFI Secure Boot key set (PK, KEK, db and their .auth files)")
	cmd.Flags().IntVar(&bits, "bits", secureboot.DefaultBits, "RSA key size for --secure-boot: 2048, 3072 or 4096")
	cmd.Flags().StringVar(&name, "name", "imgbuild", "common name prefix of the --secure-boot certificates")
	return cmd
}

func keygenSecureBoot(env Env, dir, name string, bits int) error {
	ts := time.Now()
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usageError{fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)}
		}
		ts = time.Unix(sec, 0)
	}
	ks, err := secureboot.Generate(dir, name, bits, ts)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Secure Boot keys in %s (owner %s, timestamp %s)\n", dir, ks.Owner, ks.AuthTime.Format(time.RFC3339))
	for _, r := range secureboot.Roles {
		fmt.Fprintf(env.Stdout, "  %-4s %s (keep it secret), %s, %s\n", r, secureboot.KeyFile(r), secureboot.CertFile(r), secureboot.AuthFile(r))
	}
	return nil
}
