package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/manifest"
	"github.com/imgbuild/imgbuild/manifest/schema"
)

func newManifest(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Check manifests and print their JSON Schema",
	}
	cmd.AddCommand(newManifestValidate(env), newManifestSchema(env))
	return cmd
}

func newManifestValidate(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check manifests without building them",
		Long: `Validate decodes each manifest as build does (strictly: unknown fields,
wrong types and missing required fields are errors, with file, line and
column) and checks its values. Nothing is fetched or built. The exit code
is 1 if any manifest is invalid.`,
		Example: `  imgbuild manifest validate manifests/*.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("validate takes one or more manifest files")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				if _, err := manifest.Load(f); err != nil {
					bad++
					fmt.Fprintf(env.Stdout, "INVALID %v\n", err)
					continue
				}
				fmt.Fprintf(env.Stdout, "ok      %s\n", f)
			}
			if bad > 0 {
				return &exitError{ExitFailure, fmt.Errorf("%d of %d manifests invalid", bad, len(args))}
			}
			return nil
		},
	}
}

func newManifestSchema(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the manifest JSON Schema (for editors)",
		Long: `Schema prints the JSON Schema (draft 2020-12) of manifests, generated
from imgbuild's own types; docs/manifest.schema.json is a copy. Point a
YAML language server at it, e.g. with a first line
# yaml-language-server: $schema=../docs/manifest.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := schema.JSON()
			if err != nil {
				return err
			}
			_, err = env.Stdout.Write(data)
			return err
		},
	}
}
