package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// ownPackages are the packages of the on-image programs, in
// ownbin.Programs order.
func ownPackages() []string {
	pkgs := make([]string, len(ownbin.Programs))
	for i, p := range ownbin.Programs {
		pkgs[i] = p.Package
	}
	return pkgs
}

// ownSourceKey hashes the main module's files that the on-image programs
// are built from (as go list -deps reports them), go.mod and go.sum (which
// pin every other module), the toolchain and the flags.
func ownSourceKey(ctx context.Context, src, toolchain, arch string, verbose func(string)) (string, error) {
	format := `{{if and .Module .Module.Main}}{{.Dir}}|{{join .GoFiles ","}},{{join .SFiles ","}},{{join .EmbedFiles ","}}{{end}}`
	args := append([]string{"list", "-deps", "-f", format}, ownPackages()...)
	verbose("go " + strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = src, gobuild.Env(arch)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", strings.Join(ownPackages(), " "), err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", toolchain, strings.Join(gobuild.Flags, " "), strings.Join(gobuild.Env(arch)[len(os.Environ()):], " "))
	files := []string{filepath.Join(src, "go.mod"), filepath.Join(src, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, names, ok := strings.Cut(line, "|")
		if !ok {
			continue
		}
		for _, n := range strings.Split(names, ",") {
			if n != "" {
				files = append(files, filepath.Join(dir, n))
			}
		}
	}
	for _, f := range files {
		sum, _, err := fsutil.FileSHA256(f)
		if err != nil {
			return "", fmt.Errorf("hash own source: %w", err)
		}
		rel, _ := filepath.Rel(src, f)
		fmt.Fprintf(h, "%s %s\n", rel, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ownPrograms are the on-image programs as files, one per
// ownbin.Program, in one directory.
type ownPrograms struct {
	dir                          string
	stage1, sysinit, sshd, agent string
}

func ownFiles(dir string) ownPrograms {
	return ownPrograms{dir: dir, stage1: filepath.Join(dir, "stage1"), sysinit: filepath.Join(dir, "sysinit"),
		sshd: filepath.Join(dir, "sshd"), agent: filepath.Join(dir, "agent")}
}

// buildOwnCached puts the on-image programs into one cache entry, one
// file per ownbin.Program: the embedded ones when imgbuild carries them
// (and they are of the image's arch: settleToolchain), else built from
// its source tree with the pinned toolchain.
func (b *builder) buildOwnCached(ctx context.Context, settled pinned) (ownPrograms, string, error) {
	if settled.own != nil {
		return b.ownEmbedded(settled.own)
	}
	src, err := gobuild.SourceDir(Module)
	if err != nil {
		return ownPrograms{}, "", err
	}
	k, err := ownSourceKey(ctx, src, settled.toolchain, b.m.Arch, b.verbose)
	if err != nil {
		return ownPrograms{}, "", err
	}
	dir, hit, err := b.ownEntry(key("source", k), func(dir string) error {
		for _, p := range ownbin.Programs {
			out := filepath.Join(dir, p.Name)
			b.verbose(fmt.Sprintf("GOARCH=%s go build -o %s %s %s (in %s)", b.m.Arch, out, strings.Join(gobuild.Flags, " "), p.Package, src))
			if err := gobuild.Own(ctx, src, b.m.Arch, p.Package, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ownPrograms{}, "", err
	}
	return ownFiles(dir), cacheNote(hit, "source "+k[:12]), nil
}

// ownEmbedded writes the embedded programs into the cache, keyed by
// their digest, so that later phases read them from files as they read
// source-built ones.
func (b *builder) ownEmbedded(own *ownbin.Set) (ownPrograms, string, error) {
	b.verbose(fmt.Sprintf("embedded on-image programs: %s, sha256 %s", own.Toolchain, own.Digest))
	dir, hit, err := b.ownEntry(key("embedded", own.Digest), func(dir string) error {
		for _, p := range ownbin.Programs {
			if err := os.WriteFile(filepath.Join(dir, p.Name), own.Files[p.Name], 0o755); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ownPrograms{}, "", fmt.Errorf("on-image programs: %w", err)
	}
	return ownFiles(dir), cacheNote(hit, "embedded "+own.Digest[:12]), nil
}

// ownEntry is the cache directory holding every program; make fills the
// directory it is given.
func (b *builder) ownEntry(k string, make func(dir string) error) (string, bool, error) {
	first := ownbin.Programs[0].Name
	path, hit, err := b.cached("own", k, first, func(path string) error {
		return make(filepath.Dir(path))
	})
	return filepath.Dir(path), hit, err
}
