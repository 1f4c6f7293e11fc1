// Package gobuild builds static Go programs for the image: imgbuild's own
// on-image programs (stage-1, sysinit) from its source tree, for make's
// generator (build/ownbin) and for an imgbuild that does not embed
// them, and the manifest's Go binaries from the module proxy inside a
// generated module, as gokrazy does (go install refuses modules with
// replace directives, etcd's among them).
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Flags makes builds reproducible: no paths, no VCS stamp, no build ID.
var Flags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// Env is the environment of every build: static, for the image's arch
// (a GOARCH, which the manifest's arch names), never switching
// toolchains behind our back.
func Env(arch string, extra ...string) []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	return append(env, extra...)
}

// Toolchain is the version of the go command, e.g. go1.26.8.
func Toolchain(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go toolchain: %w (is Go installed and on PATH?)", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func run(ctx context.Context, dir string, env []string, args ...string) error {
	_, err := output(ctx, dir, env, args...)
	return err
}

// output runs the go command and returns its trimmed standard output.
func output(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4000 {
			msg = "..." + msg[len(msg)-4000:]
		}
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// SourceDir finds imgbuild's own source tree, which an imgbuild without
// embedded on-image programs builds them from: $IMGBUILD_SOURCE, or the
// nearest directory above the working directory whose go.mod declares
// module.
func SourceDir(module string) (string, error) {
	if d := os.Getenv("IMGBUILD_SOURCE"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module "+module+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("imgbuild source not found above the working directory: this imgbuild does not embed its on-image programs: run it from its checkout, set IMGBUILD_SOURCE, or use an imgbuild made by make, which embeds them")
		}
		dir = parent
	}
}

// Own builds one of imgbuild's packages (e.g. ./initramfs/stage1) for
// arch into out.
func Own(ctx context.Context, srcDir, arch, pkg, out string) error {
	if err := run(ctx, srcDir, Env(arch), append(append([]string{"build", "-o", out}, Flags...), pkg)...); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// Workers is how many Go builds may run at once; each go build already
// uses every core.
var Workers = max(1, runtime.NumCPU()/2)
