package gobuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Pin is the module graph that builds one binary: the generated go.mod
// and its go.sum. Stored in the lock file, it makes later builds use
// exactly the same modules; go verifies each against go.sum.
type Pin struct {
	Package, Version string
	GoMod, GoSum     string
}

// Resolve makes a fresh pin for pkg at version, asking the module proxy.
func Resolve(ctx context.Context, workDir, pkg, version string) (Pin, error) {
	dir, err := newModule(workDir, "module imgbuild.invalid/gen\n\ngo 1.24\n", "")
	if err != nil {
		return Pin{}, err
	}
	defer os.RemoveAll(dir)
	// The module graph is the same for every arch.
	if err := run(ctx, dir, Env(runtime.GOARCH), "get", pkg+"@"+version); err != nil {
		return Pin{}, fmt.Errorf("resolve %s@%s: %w", pkg, version, err)
	}
	mod, err1 := os.ReadFile(filepath.Join(dir, "go.mod"))
	sum, err2 := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err := errors.Join(err1, err2); err != nil {
		return Pin{}, fmt.Errorf("resolve %s@%s: %w", pkg, version, err)
	}
	return Pin{Package: pkg, Version: version, GoMod: string(mod), GoSum: string(sum)}, nil
}

// Build builds the pinned package for arch into out. With the module
// graph fixed by go.mod and go.sum, -mod=readonly makes go fail rather
// than change it.
func Build(ctx context.Context, workDir, arch string, p Pin, out string) error {
	dir, err := newModule(workDir, p.GoMod, p.GoSum)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := Env(arch, "GOFLAGS=-mod=readonly")
	// go build -o of a library package quietly writes an archive, not
	// a program: refuse it here rather than at boot.
	name, err := output(ctx, dir, env, "list", "-f", "{{.Name}}", p.Package)
	if err != nil {
		return fmt.Errorf("build %s@%s: %w", p.Package, p.Version, err)
	}
	if name != "main" {
		return fmt.Errorf("build %s@%s: it is package %s, not a command (package main)", p.Package, p.Version, name)
	}
	args := append(append([]string{"build", "-o", out}, Flags...), p.Package)
	if err := run(ctx, dir, env, args...); err != nil {
		if strings.Contains(err.Error(), "missing go.sum entry") || strings.Contains(err.Error(), "updates to go.mod needed") {
			return fmt.Errorf("build %s@%s: the lock file's module pins are incomplete; re-pin with imgbuild build --update-lock: %w", p.Package, p.Version, err)
		}
		return fmt.Errorf("build %s@%s: %w", p.Package, p.Version, err)
	}
	return nil
}

func newModule(workDir, gomod, gosum string) (string, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(workDir, "gomod-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	if gosum != "" {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte(gosum), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return dir, nil
}
