package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/network"
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
(docs/config.md). The systemd-networkd files it writes under
/etc/systemd/network are parsed as the machine would, and refused with the
file, line and key of each problem. Nothing is fetched: an http(s) source
is checked for its form and its verification.hash, not downloaded (nor is
a .network file it would bring), and whether a user exists on the image
is checked only on the machine. The exit code is 1 if any config is
refused.`,
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
		err = checkConfig(raw)
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
	if err := checkConfig(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}

// checkConfig is what a booting machine checks of a config, and the
// .network files it carries, which the machine checks at boot too (and
// refuses by falling back to DHCP, not by refusing the config).
func checkConfig(raw []byte) error {
	cfg, err := ignition.Parse(raw)
	if err != nil {
		return err
	}
	probs, err := networkProblems(cfg)
	if err != nil {
		return err
	}
	if len(probs) > 0 {
		return &ignition.Error{Problems: probs}
	}
	return nil
}

// networkProblems parses the config's files under contract.NetworkDir
// as one set, as sysinit reads them from ROOT, each problem at the field
// of its file's source.
func networkProblems(cfg *ignition.Config) ([]ignition.Problem, error) {
	entries, err := cfg.FilesUnder(contract.NetworkDir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	field := map[string]string{}
	for _, e := range entries {
		rel := strings.TrimPrefix(e.Path, contract.NetworkDir+"/")
		if k, _ := network.KindOf(rel); e.Remote && k == network.Parsed {
			continue // its content is known only on the machine
		}
		files[rel] = e.Data
		field[e.Path] = e.Field
	}
	_, err = network.ParseAll(contract.NetworkDir, files)
	var ne *network.Error
	if !errors.As(err, &ne) {
		return nil, err
	}
	var out []ignition.Problem
	for _, p := range ne.Problems {
		out = append(out, ignition.Problem{Path: field[p.File], Message: p.String()})
	}
	return out, nil
}
