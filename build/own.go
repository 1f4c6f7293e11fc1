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

	"github.com/imgbuild/imgbuild/internal/gobuild"
)

// ownPackages are imgbuild's on-image programs, built from its source.
var ownPackages = []string{"./initramfs/stage1", "./rootfs/sysinit", "./rootfs/agent"}

// ownSourceKey hashes the main module's files that the on-image programs
// are built from (as go list -deps reports them), go.mod and go.sum (which
// pin every other module), the toolchain and the flags.
func ownSourceKey(ctx context.Context, src, toolchain string, verbose func(string)) (string, error) {
	format := `{{if and .Module .Module.Main}}{{.Dir}}|{{join .GoFiles ","}},{{join .SFiles ","}},{{join .EmbedFiles ","}}{{end}}`
	args := append([]string{"list", "-deps", "-f", format}, ownPackages...)
	verbose("go " + strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = src, gobuild.Env()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", strings.Join(ownPackages, " "), err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", toolchain, strings.Join(gobuild.Flags, " "), strings.Join(gobuild.Env()[len(os.Environ()):], " "))
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
		sum, _, err := fileSHA256(f)
		if err != nil {
			return "", fmt.Errorf("hash own source: %w", err)
		}
		rel, _ := filepath.Rel(src, f)
		fmt.Fprintf(h, "%s %s\n", rel, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildOwnCached builds stage-1 and sysinit into one cache entry.
func (b *builder) buildOwnCached(ctx context.Context) (string, error) {
	src, err := gobuild.SourceDir(Module)
	if err != nil {
		return "", err
	}
	k, err := ownSourceKey(ctx, src, b.toolchain, b.verbose)
	if err != nil {
		return "", err
	}
	stage1, hit, err := cached(b.opts.CacheDir, "own", k, "stage1", func(path string) error {
		dir := filepath.Dir(path)
		for _, p := range []struct{ pkg, out string }{{ownPackages[0], path}, {ownPackages[1], filepath.Join(dir, "sysinit")}, {ownPackages[2], filepath.Join(dir, "agent")}} {
			b.verbose(fmt.Sprintf("go build -o %s %s %s (in %s)", p.out, strings.Join(gobuild.Flags, " "), p.pkg, src))
			if err := gobuild.Own(ctx, src, p.pkg, p.out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	b.stage1, b.sysinit, b.agent = stage1, filepath.Join(filepath.Dir(stage1), "sysinit"), filepath.Join(filepath.Dir(stage1), "agent")
	return cacheNote(hit, "source "+k[:12]), nil
}
