package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/gobuild"
	"github.com/imgbuild/imgbuild/rootfs/squashfs"
	"github.com/imgbuild/imgbuild/rootfs/verity"
)

// Caches of our own outputs (stage-1 and sysinit, the initramfs, USR with
// its verity tree, the disk image's digest) are keyed by the hash of
// every input and of the imgbuild executable itself: a new imgbuild may
// write different bytes for the same inputs.

var self struct {
	once sync.Once
	sum  string
}

// toolHash is the sha256 of the running executable; when it cannot be
// read the keys get a unique value, so nothing is reused.
func toolHash() string {
	self.once.Do(func() {
		self.sum = fmt.Sprintf("unknown-%d", time.Now().UnixNano())
		exe, err := os.Executable()
		if err != nil {
			return
		}
		if sum, _, err := fileSHA256(exe); err == nil {
			self.sum = sum
		}
	})
	return self.sum
}

// ownPackages are imgbuild's on-image programs, built from its source.
var ownPackages = []string{"./initramfs/stage1", "./rootfs/sysinit"}

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
		for _, p := range []struct{ pkg, out string }{{ownPackages[0], path}, {ownPackages[1], filepath.Join(dir, "sysinit")}} {
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
	b.stage1, b.sysinit = stage1, filepath.Join(filepath.Dir(stage1), "sysinit")
	return cacheNote(hit, "source "+k[:12]), nil
}

func cacheNote(hit bool, what string) string {
	if hit {
		return "cached (" + what + ")"
	}
	return "built (" + what + ")"
}

// hashReader is the sha256 of everything r yields.
func hashReader(open func() (io.ReadCloser, error)) (string, error) {
	r, err := open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	sum, _, err := sumReader(r)
	return sum, err
}

// usrKey hashes the entries' metadata and content and every option that
// shapes the squashfs and its verity tree.
func usrKey(entries []squashfs.Entry, opt squashfs.Options, name, version string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00usr\x00%d %d %d %d\x00%s\x00%s\n", toolHash(), opt.Compression, opt.Level, opt.BlockSize, opt.ModTime.Unix(), name, version)
	for _, e := range entries {
		sum := ""
		if e.Open != nil {
			var err error
			if sum, err = hashReader(e.Open); err != nil {
				return "", fmt.Errorf("usr: hash %s: %w", e.Path, err)
			}
		}
		fmt.Fprintf(h, "%q %v %d %d %d %q %d %d %s\n", e.Path, e.Mode, e.UID, e.GID, e.ModTime.Unix(), e.Target, e.Size, e.Rdev, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// usrMeta is kept beside a cached USR: what the rest of the build needs
// of it without reading it again.
type usrMeta struct {
	SquashfsSize int64          `json:"squashfs_size"`
	Entries      int            `json:"entries"`
	Verity       *verity.Params `json:"verity"`
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// cachedCopy copies a cache entry to dst: outputs are never links into
// the cache, so editing or booting them cannot corrupt it.
func cachedCopy(src, dst string) error {
	return copyFile(src, dst)
}
