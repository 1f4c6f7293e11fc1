package cli

import (
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imgbuild/imgbuild/build"
)

func newBuild(env Env) *cobra.Command {
	var (
		opts          build.Options
		locked, repin bool
		quiet, asJSON bool
		checkRepro    bool
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build an image from a manifest",
		Long: `Build resolves the manifest's inputs (pinning them in the lock file next to
the manifest), fetches and builds them, and writes the disk image and its
parts into the output directory. Outputs appear only when the whole build
succeeded; a failed build leaves the output directory as it was.`,
		Example: `  imgbuild build -f manifests/minimal.yaml -o out/
  imgbuild build -f manifests/etcd.yaml --target qemu -o out/ --locked
  imgbuild build -f manifests/minimal.yaml --update-lock --json
  imgbuild build -f manifests/minimal.yaml --sign-key keys/release.key -o out/
  imgbuild build -f manifests/minimal.yaml --sign-key keys/release.key --secure-boot-keys sbkeys/ -o out/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if locked && repin {
				return usageError{fmt.Errorf("--locked and --update-lock contradict each other")}
			}
			switch {
			case locked:
				opts.Lock = build.LockFrozen
			case repin:
				opts.Lock = build.LockRepin
			}
			p := newProgress(env.Stderr, quiet, asJSON, env.Stdout)
			opts.Report = p.report
			stopTick := make(chan struct{})
			defer close(stopTick)
			go p.tick(stopTick)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := build.Run(ctx, opts)
			if err != nil {
				p.failed(err)
				return err
			}
			p.summary(res)
			if checkRepro {
				return checkReproducible(ctx, env.Stderr, opts, res)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Manifest, "file", "f", "manifests/minimal.yaml", "manifest to build")
	f.StringVarP(&opts.OutDir, "output", "o", "out", "output directory")
	f.StringVar(&opts.Target, "target", "qemu", "platform to build for: "+strings.Join(build.Targets, ", "))
	f.StringVar(&opts.CacheDir, "cache", "", "cache directory (default $IMGBUILD_CACHE or $XDG_CACHE_HOME/imgbuild)")
	debArchiveFlag(f, &opts.DebArchive)
	f.BoolVar(&locked, "locked", false, "fail instead of changing the lock file")
	f.BoolVar(&repin, "update-lock", false, "resolve every input afresh and rewrite the lock file")
	f.StringVar(&opts.SignKey, "sign-key", "", "private key file (imgbuild keygen) that signs the release record; without it the manifest must set security.allow_unsigned")
	f.StringVar(&opts.SecureBootKeys, "secure-boot-keys", "", "directory from imgbuild keygen --secure-boot: sign systemd-boot and a UKI per slot with its db key and put its PK/KEK/db.auth on the ESP for systemd-boot to enroll (needs osslsigncode)")
	f.StringVar(&opts.Version, "version", "", "replace the manifest's version (a semantic version, e.g. 1.4.0-nightly.20261201)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only errors and the outputs")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "show each step's commands and inputs")
	f.BoolVar(&opts.QCOW2, "qcow2", false, "also write NAME.qcow2 for QEMU and other hypervisors")
	f.BoolVar(&checkRepro, "check-reproducible", false, "build a second time in a temporary directory with an empty cache and fail if any artifact differs")
	f.BoolVar(&asJSON, "json", false, "print machine-readable events and a summary on stdout")
	return cmd
}

// debArchiveFlag adds --deb-archive, the Debian archives' base URLs.
func debArchiveFlag(f *pflag.FlagSet, v *string) {
	f.StringVar(v, "deb-archive", "", "Debian archives' base URLs as NAME=URL, e.g. debian=http://MIRROR/debian,debian-security=http://MIRROR/debian-security (a bare URL is debian's; default $IMGBUILD_DEBIAN_ARCHIVE, then the user config file imgbuild/debian-archive, then the host's apt sources)")
}
