package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/images/ami"
)

func newPublish(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a built image to a platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("publish needs a platform: aws")}
		},
	}
	cmd.AddCommand(newPublishAWS(env))
	return cmd
}

func newPublishAWS(env Env) *cobra.Command {
	var (
		o             ami.Options
		quiet, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "aws IMAGE --region REGION",
		Short: "Upload an image built with --target aws as an EBS snapshot and register it as an AMI",
		Long: `Publish aws writes the data blocks of IMAGE (the raw NAME.img of imgbuild build
--target aws; all-zero blocks are skipped) into a new EBS snapshot with the
EBS direct API, waits for the snapshot to complete and registers it with EC2
as a UEFI, ENA, IMDSv2-only AMI described by NAME.aws.json. It prints the AMI
id. Credentials come from the AWS SDK's default chain (environment, profile,
SSO, web identity, container or instance role).

An interrupted upload resumes: IMAGE.publish.json records the snapshot and
the blocks EBS has acknowledged, and a rerun sends only the rest while the
snapshot is still pending. --dry-run lists every call without making any.`,
		Example: `  imgbuild publish aws out/minimal.img --region eu-west-1
  imgbuild publish aws out/minimal.img --region us-east-1 --name minimal-nightly-20261201 --json
  imgbuild publish aws out/minimal.img --region eu-west-1 --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Image = args[0]
			if o.Region == "" {
				return usageError{fmt.Errorf("publish aws: --region is required (e.g. --region eu-west-1)")}
			}
			p := newProgress(env.Stderr, quiet || o.DryRun, false, env.Stdout)
			o.Report = p.report
			o.Note = func(s string) { fmt.Fprintf(env.Stderr, "note: %s\n", s) }
			stopTick := make(chan struct{})
			defer close(stopTick)
			go p.tick(stopTick)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := ami.Publish(ctx, o)
			if err != nil {
				return err
			}
			return printPublished(env, res, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Region, "region", "", "AWS region to publish in (required), e.g. eu-west-1")
	f.StringVar(&o.Name, "name", "", "AMI name (default: the registration's, NAME-VERSION)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print every call publish would make, make none (needs no credentials)")
	f.IntVar(&o.Parallel, "parallel", 8, "blocks uploaded at once")
	f.DurationVar(&o.WaitTimeout, "timeout", 30*time.Minute, "how long to wait for EBS to complete the snapshot")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only errors and the result")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

func printPublished(env Env, res *ami.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if res.DryRun {
		for _, c := range res.Calls {
			fmt.Fprintln(env.Stdout, c)
		}
		return nil
	}
	fmt.Fprintf(env.Stderr, "published %s in %s: snapshot %s, %d of %d blocks sent this run (%.1f MiB, %.1f MiB/s)\n",
		res.Name, res.Region, res.SnapshotID, res.BlocksSent, res.BlocksData,
		float64(res.BytesSent)/(1<<20), float64(res.BytesSent)/(1<<20)/max(res.UploadSeconds, 1e-9))
	fmt.Fprintln(env.Stdout, res.ImageID)
	return nil
}
