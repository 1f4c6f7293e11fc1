package deb

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// runFunc runs a command and returns its standard output; tests replace it
// with captured apt output.
type runFunc func(ctx context.Context, dir, name string, args ...string) ([]byte, error)

func runCommand(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &commandError{
			cmd: name + " " + strings.Join(args, " "), err: err,
			stderr: strings.TrimSpace(stderr.String()),
		}
	}
	return stdout.Bytes(), nil
}

// commandError keeps the tool's stderr, which is where apt says what went
// wrong.
type commandError struct {
	cmd    string
	err    error
	stderr string
}

func (e *commandError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("%s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, e.stderr)
}

func (e *commandError) Unwrap() error { return e.err }
