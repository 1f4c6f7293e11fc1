package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
)

func newConfig(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check per-machine configs (Ignition spec v3)",
	}
	cmd.AddCommand(newConfigValidate(env))
	return cmd
}

func newConfigValidate(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check per-machine configs offline, as a booting machine would",
		Long: `Validate parses each config with Ignition's own config package and
refuses, with the field path, everything an imgbuild image does not apply
(docs/config.md). Nothing is fetched: an http(s) source is checked for its
form and its verification.hash, not downloaded, and whether a user exists
on the image is checked only on the machine. The exit code is 1 if any
config is refused.`,
		Example: `  imgbuild config validate node.ign`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("validate takes one or more config files")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				if err := validateConfigFile(env, f); err != nil {
					bad++
				}
			}
			if bad > 0 {
				return &exitError{ExitFailure, fmt.Errorf("%d of %d configs refused", bad, len(args))}
			}
			return nil
		},
	}
}

// validateConfigFile prints "ok FILE" or one line per problem.
func validateConfigFile(env Env, path string) error {
	raw, err := os.ReadFile(path)
	if err == nil {
		_, err = ignition.Parse(raw)
	}
	var e *ignition.Error
	switch {
	case err == nil:
		fmt.Fprintf(env.Stdout, "ok      %s\n", path)
	case errors.As(err, &e):
		for _, p := range e.Problems {
			fmt.Fprintf(env.Stdout, "INVALID %s: %s\n", path, p)
		}
	default:
		fmt.Fprintf(env.Stdout, "INVALID %s: %v\n", path, err)
	}
	return err
}

// readConfig reads and validates a config for run and oem.
func readConfig(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := ignition.Parse(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}
