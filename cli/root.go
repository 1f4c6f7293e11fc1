// Package cli is imgbuild's command line: one file per verb. main only
// calls Execute, so tests run the real CLI in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, documented in docs/cli.md.
const (
	ExitOK        = 0
	ExitFailure   = 1 // the build, check or boot failed
	ExitUsage     = 2 // bad flags or arguments
	ExitUnhealthy = 3 // run --until-healthy: the image did not become healthy
)

// Env is what a command sees of the world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

type usageError struct{ error }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Execute runs imgbuild with args and returns the process exit code.
func Execute(ctx context.Context, env Env, args []string) int {
	root := newRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "imgbuild: %v\n", err)
	var ee *exitError
	var ue usageError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "imgbuild",
		Short: "Build minimal, CoreOS-style Linux OS images from a short manifest",
		Long: `imgbuild turns a YAML manifest into a bootable GPT disk image: a kernel, a
small Go initramfs, a read-only USR file system in slot A (slot B for
updates), systemd-boot with boot counting, and a writable ROOT.

No root, loop devices or mounts are needed on the build host.`,
		Example: `  imgbuild build -f manifests/minimal.yaml -o out/
  imgbuild inspect out/minimal.img
  imgbuild run out/minimal.img --until-healthy`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBuild(env), newInspect(env), newLogs(env), newRun(env), newVersion(env), newKeygen(env), newVerify(env), newManifest(env), newConfig(env), newOEM(env),
		newRelease(env), newPromote(env), newChannels(env), newServe(env), newPublish(env), newRollout(env), newCluster(env), newFleet(env))
	return root
}

// isTerminal reports whether w is a terminal (for progress display).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("CI") == ""
}
