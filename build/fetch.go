package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/manifest"
	"golang.org/x/sync/errgroup"
)

// fetch downloads the Debian packages and builds the Go programs, in
// parallel.
func (b *builder) fetch(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, pin := range b.lock.Debs {
		g.Go(func() error {
			return b.report.Step("fetch "+name, func() (string, error) {
				step := "fetch " + name
				b.verbose(fmt.Sprintf("%s: %s=%s sha256 %s (cached as %s, else apt-get download)", step, pin.Package, pin.Version, pin.SHA256, deb.CachePath(b.opts.CacheDir, pin.SHA256)))
				p, err := deb.Download(gctx, pinPackage(pin), b.opts.CacheDir, deb.WithRepinHint(repinHint),
					deb.WithProgress(func(n int64) { b.report.Send(output.Event{Step: step, Status: "progress", Done: n}) }))
				if err != nil {
					return "", fmt.Errorf("%s: Debian package %s: %w", lockName(b.m, b.lock), name, err)
				}
				b.mu.Lock()
				b.debs[name] = p
				b.mu.Unlock()
				return pin.Package + " " + pin.Version, nil
			})
		})
	}
	g.Go(func() error {
		return b.report.Step("go: stage-1 and sysinit", func() (string, error) { return b.buildOwnCached(gctx) })
	})
	sem := make(chan struct{}, gobuild.Workers)
	for _, bin := range b.m.Binaries {
		if bin.Go == "" {
			continue
		}
		g.Go(func() error {
			sem <- struct{}{}
			defer func() { <-sem }()
			return b.report.Step("go: "+bin.Name, func() (string, error) { return b.buildGo(gctx, bin) })
		})
	}
	return g.Wait()
}

func (b *builder) buildGo(ctx context.Context, bin manifest.Binary) (string, error) {
	pin := b.lock.Go[bin.Name]
	k := key(pin.Package, pin.Version, pin.GoMod, pin.GoSum, b.toolchain, strings.Join(gobuild.Flags, " "))
	out, hit, err := cached(b.opts.CacheDir, "go", k, bin.Name, func(path string) error {
		return gobuild.Build(ctx, filepath.Join(b.opts.CacheDir, "tmp"), gobuild.Pin{Package: pin.Package, Version: pin.Version, GoMod: pin.GoMod, GoSum: pin.GoSum}, path)
	})
	if err != nil {
		return "", fmt.Errorf("%s: binary %s: %w", b.m.File, bin.Name, err)
	}
	b.mu.Lock()
	b.binaries[bin.Name] = out
	b.mu.Unlock()
	if hit {
		return "cached", nil
	}
	return bin.Go + "@" + bin.Version, nil
}

// debFile extracts one binary from its Debian package, cached by the
// package's sha256 and the path.
func (b *builder) debFile(bin manifest.Binary) (string, error) {
	pin := b.lock.Debs[bin.Deb]
	out, _, err := cached(b.opts.CacheDir, "debfile", key(pin.SHA256, bin.Path), bin.Name, func(path string) error {
		data, err := deb.ReadFile(b.debs[bin.Deb], bin.Path)
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
