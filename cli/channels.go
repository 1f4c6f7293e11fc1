package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// channelInfo is one line of imgbuild channels.
type channelInfo struct {
	Channel string      `json:"channel"`
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Arch    string      `json:"arch"`
	Since   time.Time   `json:"since"`
	Size    int64       `json:"size"`
	Files   []repo.File `json:"files"`
}

func newChannels(env Env) *cobra.Command {
	var (
		repoDir string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "channels --repo DIR",
		Short: "Show what each channel of an update repository offers, since when",
		Long: `Channels lists every channel of the repository: the image and version it
offers, since when, and the payload's size (all its files). It reads the
metadata without checking signatures: it is for people.`,
		Example: `  imgbuild channels --repo out/repo
  imgbuild channels --repo out/repo --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repoDir == "" {
				return usageError{fmt.Errorf("--repo is required")}
			}
			list, err := repo.List(repoDir)
			if err != nil {
				return err
			}
			infos := make([]channelInfo, 0, len(list))
			for _, c := range list {
				info := channelInfo{Channel: c.Channel, Name: c.Name, Version: c.Version, Arch: c.Arch, Since: c.Since,
					Files: server.OrderedFiles(c.Files)}
				for _, f := range c.Files {
					info.Size += f.Size
				}
				infos = append(infos, info)
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			if len(infos) == 0 {
				fmt.Fprintf(env.Stdout, "no channels in %s\n", repoDir)
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CHANNEL\tIMAGE\tVERSION\tSINCE\tSIZE\tFILES")
			for _, i := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", i.Channel, i.Name, i.Version, i.Since.UTC().Format("2006-01-02 15:04:05 UTC"), mib(i.Size), len(i.Files))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&repoDir, "repo", "", "update repository directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// orderedForDisplay lists payload files in the order Omaha answers use.
func orderedForDisplay(files []repo.File) []repo.File { return server.OrderedFiles(files) }
