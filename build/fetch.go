package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/manifest"
	"golang.org/x/sync/errgroup"
)

// fetched are the build's inputs as files on the host.
type fetched struct {
	debs   map[string]string // lock key -> .deb path
	goBins map[string]string // the manifest's Go binaries: name -> built file
	own    ownPrograms
	images map[string]imageOut // container services by name
}

// fetch downloads the Debian packages, builds the Go programs and
// flattens the container images, in parallel.
func (b *builder) fetch(ctx context.Context, settled pinned) (fetched, error) {
	f := fetched{debs: map[string]string{}, goBins: map[string]string{}, images: map[string]imageOut{}}
	var mu sync.Mutex // f's maps
	g, gctx := errgroup.WithContext(ctx)
	for name, pin := range b.lock.Debs {
		g.Go(func() error {
			return b.report.Step("fetch "+name, func() (string, error) {
				step := "fetch " + name
				b.verbose(fmt.Sprintf("%s: %s=%s sha256 %s (cached as %s, else fetched)", step, pin.Package, pin.Version, pin.SHA256, deb.CachePath(b.opts.CacheDir, pin.SHA256)))
				opts := []deb.Option{deb.WithRepinHint(repinHint),
					deb.WithProgress(func(n int64) { b.report.Send(output.Event{Step: step, Status: "progress", Done: n}) })}
				p, err := b.download(gctx, pin, opts)
				if err != nil {
					return "", fmt.Errorf("%s: Debian package %s: %w", lockName(b.m, b.lock), name, err)
				}
				mu.Lock()
				f.debs[name] = p
				mu.Unlock()
				return pin.Package + " " + pin.Version, nil
			})
		})
	}
	g.Go(func() error {
		var err error
		f.own, err = step(b.report, "go: stage-1 and sysinit", func() (ownPrograms, string, error) { return b.buildOwnCached(gctx, settled) })
		return err
	})
	for i, s := range b.m.Services {
		if s.Image == "" {
			continue
		}
		g.Go(func() error {
			img, err := step(b.report, "image "+s.Name, func() (imageOut, string, error) { return b.fetchImage(gctx, i) })
			mu.Lock()
			f.images[s.Name] = img
			mu.Unlock()
			return err
		})
	}
	sem := make(chan struct{}, gobuild.Workers)
	for _, bin := range b.m.Binaries {
		if bin.Go == "" {
			continue
		}
		g.Go(func() error {
			sem <- struct{}{}
			defer func() { <-sem }()
			return b.report.Step("go: "+bin.Name, func() (string, error) {
				out, detail, err := b.buildGo(gctx, bin, settled.toolchain)
				if err == nil {
					mu.Lock()
					f.goBins[bin.Name] = out
					mu.Unlock()
				}
				return detail, err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return fetched{}, err
	}
	return f, nil
}

// download returns the cached package file, opening the Debian backend
// only when the cache lacks it.
func (b *builder) download(ctx context.Context, pin manifest.DebPin, opts []deb.Option) (string, error) {
	path := deb.CachePath(b.opts.CacheDir, pin.SHA256)
	if sum, _, err := fsutil.FileSHA256(path); err == nil && sum == pin.SHA256 {
		return path, nil
	}
	more, err := b.debs.downloadOptions()
	if err != nil {
		return "", err
	}
	return deb.Download(ctx, pinPackage(pin), b.opts.CacheDir, append(opts, more...)...)
}

// buildGo builds one of the manifest's Go binaries and returns its file.
func (b *builder) buildGo(ctx context.Context, bin manifest.Binary, toolchain string) (string, string, error) {
	pin := b.lock.Go[bin.Name]
	k := key(pin.Package, pin.Version, pin.GoMod, pin.GoSum, toolchain, strings.Join(gobuild.Flags, " "), b.m.Arch)
	out, hit, err := b.cached("go", k, bin.Name, func(path string) error {
		return gobuild.Build(ctx, filepath.Join(b.opts.CacheDir, "tmp"), b.m.Arch, gobuild.Pin{Package: pin.Package, Version: pin.Version, GoMod: pin.GoMod, GoSum: pin.GoSum}, path)
	})
	if err != nil {
		return "", "", fmt.Errorf("%s: binary %s: %w", b.m.File, bin.Name, err)
	}
	if hit {
		return out, "cached", nil
	}
	return out, bin.Go + "@" + bin.Version, nil
}

// debFile extracts one binary from its Debian package, cached by the
// package's sha256 and the path.
func (b *builder) debFile(bin manifest.Binary, debPath string) (string, error) {
	pin := b.lock.Debs[bin.Deb]
	out, _, err := b.cached("debfile", key(pin.SHA256, bin.Path), bin.Name, func(path string) error {
		data, err := deb.ReadFile(debPath, bin.Path)
		if err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o755)
	})
	if err != nil {
		return "", fmt.Errorf("%s: binary %s: %w", b.m.File, bin.Name, err)
	}
	return out, nil
}
