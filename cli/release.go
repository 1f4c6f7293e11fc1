package cli

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/release"
	"github.com/imgbuild/imgbuild/update/repo"
)

func newRelease(env Env) *cobra.Command {
	var (
		opts                   build.Options
		repoDir, channel, from string
		force, quiet           bool
	)
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Build (or take a build) and publish it to a channel of an update repository",
		Long: `Release builds the manifest (or takes a finished build's outputs with
--from-build), adds its payload to the repository — release record,
signature, USR, kernel, initramfs and, for Secure Boot builds, the signed
UKI of each slot — as content-addressed objects, and points the channel at
it with signed metadata (docs/updates.md).

A release must be signed (--sign-key): the same key signs the channel
metadata, and the build's record must verify with it. The channel only
moves forward: a version not newer than what it offers, or another image,
is refused unless --force.`,
		Example: `  imgbuild release -f manifests/minimal.yaml --repo out/repo --channel alpha --sign-key keys/release.key --version 1.1.0
  imgbuild release --from-build out/ --repo out/repo --channel alpha --sign-key keys/release.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repoDir == "" || channel == "" {
				return usageError{fmt.Errorf("--repo and --channel are required")}
			}
			if opts.SignKey == "" {
				return usageError{fmt.Errorf("refusing an unsigned release: give --sign-key (imgbuild keygen makes one); machines refuse releases they cannot verify")}
			}
			if from != "" && (cmd.Flags().Changed("file") || opts.Version != "" || opts.SecureBootKeys != "") {
				return usageError{fmt.Errorf("--from-build takes a finished build: -f, --version and --secure-boot-keys belong to a build")}
			}
			key, err := sign.LoadPrivate(opts.SignKey)
			if err != nil {
				return fmt.Errorf("--sign-key: %w", err)
			}
			cur, err := release.Current(repoDir, channel)
			if err != nil {
				return err
			}
			var res *output.Result
			if from != "" {
				res, err = release.ReadBuild(from)
			} else {
				res, err = releaseBuild(cmd, env, opts, cur, force, quiet)
			}
			if err != nil {
				return err
			}
			return publishRelease(env, res, repoDir, channel, key, cur, force)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Manifest, "file", "f", "manifests/minimal.yaml", "manifest to build")
	f.StringVarP(&opts.OutDir, "output", "o", "out", "build output directory")
	f.StringVar(&opts.CacheDir, "cache", "", "cache directory (default $IMGBUILD_CACHE or $XDG_CACHE_HOME/imgbuild)")
	debArchiveFlag(f, &opts.DebArchive)
	f.StringVar(&opts.SignKey, "sign-key", "", "private key file (imgbuild keygen) that signs the record and the channel metadata (required)")
	f.StringVar(&opts.Version, "version", "", "replace the manifest's version (a semantic version, e.g. 1.0.0-nightly.20261201143000)")
	f.StringVar(&opts.SecureBootKeys, "secure-boot-keys", "", "directory from imgbuild keygen --secure-boot: the payload then carries a signed UKI per slot")
	f.StringVar(&repoDir, "repo", "", "update repository directory (created if missing)")
	f.StringVar(&channel, "channel", "", "channel to publish to, e.g. alpha")
	f.StringVar(&from, "from-build", "", "take a finished build's outputs (its directory or NAME.json summary) instead of building")
	f.BoolVar(&force, "force", false, "publish even when the channel offers the same or a newer version, or another image")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only errors and the result")
	return cmd
}

// releaseBuild builds the release, after checking that its version
// could be published at all, so that a refusal costs no build.
func releaseBuild(cmd *cobra.Command, env Env, opts build.Options, cur *repo.Channel, force, quiet bool) (*output.Result, error) {
	m, err := build.Load(opts.Manifest, opts.Version)
	if err != nil {
		return nil, err
	}
	if err := release.Guard(cur, m.Name, m.Version); err != nil && !force {
		return nil, err
	}
	opts.Loaded = m
	p := newProgress(env.Stderr, quiet, false, env.Stdout)
	opts.Report = p.report
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	res, err := build.Run(ctx, opts)
	if err != nil {
		p.failed(err)
		return nil, err
	}
	return res, nil
}

// publishRelease adds the payload and points the channel at it. Objects
// are added before the checks that need their bytes: unreferenced
// objects are harmless, and the channel moves only when all passed.
func publishRelease(env Env, res *output.Result, repoDir, channel string, key ed25519.PrivateKey, cur *repo.Channel, force bool) error {
	files, err := release.Files(res)
	if err != nil {
		return err
	}
	p, err := repo.AddPayload(repoDir, files)
	if err != nil {
		return err
	}
	if _, err := release.Check(p, repoDir, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
		return err
	}
	if err := release.Guard(cur, p.Name, p.Version); err != nil && !force {
		return err
	}
	// Before the channel moves, so that no machine is offered a release
	// whose chunks are still being written (it would fetch whole files).
	newChunks, err := release.StoreChunks(repoDir, p, key)
	if err != nil {
		return err
	}
	c, err := repo.Publish(repoDir, channel, p, key, time.Now())
	if err != nil {
		return err
	}
	var size int64
	for _, f := range p.Files {
		size += f.Size
	}
	fmt.Fprintf(env.Stdout, "released %s %s to %s in %s: %d files (%s, %s of new chunks), since %s\n",
		c.Name, c.Version, channel, repoDir, len(p.Files), mib(size), mib(newChunks), c.Since.Format(time.RFC3339))
	for _, f := range orderedForDisplay(p.Files) {
		fmt.Fprintf(env.Stdout, "  %-10s %s %s\n", f.Kind, f.Path, mib(f.Size))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
