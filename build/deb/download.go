package deb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/build/deb/archive"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// ErrVersionGone is wrapped by Download's error when the pinned version is
// no longer downloadable.
var ErrVersionGone = errors.New("version is no longer in the archive")

// ErrChecksum is wrapped by Download's error when the file apt fetched does
// not have the pinned sha256.
var ErrChecksum = errors.New("sha256 mismatch")

// Option adjusts Download.
type Option func(*downloadOptions)

type downloadOptions struct {
	repinHint string
	run       runFunc
	progress  func(bytes int64)
	archive   *archive.Client
}

// WithArchive fetches from the archive's pool over HTTP instead of
// running apt-get download.
func WithArchive(c *archive.Client) Option {
	return func(o *downloadOptions) { o.archive = c }
}

// WithProgress has fn called with the bytes downloaded so far, a few
// times a second while apt-get runs.
func WithProgress(fn func(bytes int64)) Option {
	return func(o *downloadOptions) { o.progress = fn }
}

// WithRepinHint sets what a "version gone" error tells the user to do, e.g.
// "run `imgbuild build --update-lock`".
func WithRepinHint(hint string) Option {
	return func(o *downloadOptions) { o.repinHint = hint }
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CachePath is where Download keeps a package with this sha256.
func CachePath(cacheDir, sha string) string {
	return filepath.Join(cacheDir, "debs", sha+".deb")
}

// Download returns the path of the pinned package in cacheDir, fetching it
// (from the archive's pool WithArchive, else with `apt-get download`)
// unless a file with the pinned sha256 is already cached. The cache is
// content-addressed: cacheDir/debs/<sha256>.deb.
func Download(ctx context.Context, p Package, cacheDir string, opts ...Option) (string, error) {
	o := downloadOptions{repinHint: "resolve the package again and update its pin", run: runCommand}
	for _, opt := range opts {
		opt(&o)
	}
	if !sha256Hex.MatchString(p.SHA256) {
		return "", fmt.Errorf("deb: download %s: pin %q is not a lower-case hex sha256", p, p.SHA256)
	}
	final := CachePath(cacheDir, p.SHA256)
	if sum, _, err := fsutil.FileSHA256(final); err == nil && sum == p.SHA256 {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("deb: download %s: %w", p, err)
	}
	if o.archive != nil {
		return final, fetchArchive(ctx, o, p, final)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".download-")
	if err != nil {
		return "", fmt.Errorf("deb: download %s: %w", p, err)
	}
	defer os.RemoveAll(tmp)
	if o.progress != nil {
		stop := make(chan struct{})
		defer close(stop)
		go watchSize(tmp, o.progress, stop)
	}
	if err := fetch(ctx, o, p, tmp); err != nil {
		return "", err
	}
	got, err := onlyDeb(tmp)
	if err != nil {
		return "", fmt.Errorf("deb: download %s: %w", p, err)
	}
	sum, _, err := fsutil.FileSHA256(got)
	if err != nil {
		return "", fmt.Errorf("deb: download %s: %w", p, err)
	}
	if sum != p.SHA256 {
		return "", fmt.Errorf("deb: download %s: %w: expected %s, got %s", p, ErrChecksum, p.SHA256, sum)
	}
	if err := os.Rename(got, final); err != nil {
		return "", fmt.Errorf("deb: download %s: %w", p, err)
	}
	return final, nil
}

func fetch(ctx context.Context, o downloadOptions, p Package, dir string) error {
	if os.Geteuid() == 0 {
		// apt drops to its sandbox user to download; let it write here.
		// (If a parent dir is closed to it, apt warns and goes on as root.)
		if err := os.Chmod(dir, 0o777); err != nil {
			return fmt.Errorf("deb: download %s: %w", p, err)
		}
	}
	name := p.Name
	if p.Arch != "" && p.Arch != "all" {
		name += ":" + p.Arch
	}
	_, err := o.run(ctx, dir, "apt-get", "download", "-q", name+"="+p.Version)
	if err == nil {
		return nil
	}
	if isGone(err) {
		return fmt.Errorf("deb: download %s: %w; %s (%v)", p, ErrVersionGone, o.repinHint, err)
	}
	return fmt.Errorf("deb: download %s: %w", p, err)
}

// fetchArchive downloads p from the archive's pool into final.
func fetchArchive(ctx context.Context, o downloadOptions, p Package, final string) error {
	err := o.archive.Fetch(ctx, archive.Pin{Package: p.Name, Version: p.Version, SHA256: p.SHA256,
		Source: p.Source, Filename: p.Filename, Snapshot: p.Snapshot}, final, o.progress)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, archive.ErrNotFound):
		return fmt.Errorf("deb: download %s: %w; %s (%v)", p, ErrVersionGone, o.repinHint, err)
	case errors.Is(err, archive.ErrChecksum):
		return fmt.Errorf("deb: download %s: %w (%v)", p, ErrChecksum, err)
	}
	return fmt.Errorf("deb: download %s: %w", p, err)
}

// isGone tells apt's "not in the index" and the archive's 404 apart from
// other failures (network, permissions).
func isGone(err error) bool {
	msg := err.Error()
	return (strings.Contains(msg, "Version '") && strings.Contains(msg, "was not found")) ||
		strings.Contains(msg, "404") ||
		strings.Contains(msg, "Unable to locate package") ||
		strings.Contains(msg, "Can't select candidate version")
}

// onlyDeb finds the single .deb apt wrote into dir; apt picks its name.
func onlyDeb(dir string) (string, error) {
	matches, err := fsutil.Match(dir, "*.deb")
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("apt-get download left %d .deb files, want 1", len(matches))
	}
	return matches[0], nil
}

// withRunner replaces the command runner (tests).
func withRunner(run runFunc) Option {
	return func(o *downloadOptions) { o.run = run }
}

// watchSize reports the size of the files in dir (apt-get download
// writes the package there) until stop is closed.
func watchSize(dir string, fn func(int64), stop <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			var total int64
			filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if info, err := d.Info(); err == nil {
						total += info.Size()
					}
				}
				return nil
			})
			if total > 0 {
				fn(total)
			}
		}
	}
}
