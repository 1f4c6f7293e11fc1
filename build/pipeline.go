package build

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/manifest"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

// Module is imgbuild's Go module path; stage-1 and sysinit are built from it.
const Module = "github.com/imgbuild/imgbuild"

type builder struct {
	m      *manifest.Manifest
	opts   Options
	stage  string
	report output.Reporter

	lock      *manifest.Lock
	changes   []string
	toolchain string
	own       *ownbin.Set // the embedded on-image programs; nil: build them from source
	epoch     time.Time

	mu       sync.Mutex
	debs     map[string]string // lock key -> .deb path
	binaries map[string]string // binary name -> built file
	ownDir   string            // the on-image programs, one file per ownbin.Program
	stage1   string
	sysinit  string
	sshd     string
	agent    string // the update agent, built with sysinit
	kernel   *kernel.Kernel
	modules  []kernel.Module
	sec      security           // signing keys, verity tree, release record (sign.go)
	sb       *secureboot.KeySet // --secure-boot-keys; nil: no Secure Boot layout
	diskSum  string             // the image's sha256 (disk.go)
}

func (b *builder) run(ctx context.Context) (*output.Result, error) {
	b.debs, b.binaries = map[string]string{}, map[string]string{}
	if err := b.loadKeys(); err != nil {
		return nil, err
	}
	if err := b.loadSecureBoot(); err != nil {
		return nil, err
	}
	if err := b.pin(ctx); err != nil {
		return nil, err
	}
	if err := b.fetch(ctx); err != nil {
		return nil, err
	}
	epoch, err := sourceDateEpoch(b.lock, b.debs[BootloaderPackage])
	if err != nil {
		return nil, err
	}
	b.lock.SourceDateEpoch, b.epoch = epoch, time.Unix(epoch, 0).UTC()
	name := b.m.Name
	paths := map[string]string{
		"disk": filepath.Join(b.stage, name+".img"), "kernel": filepath.Join(b.stage, name+".vmlinuz"),
		"initramfs": filepath.Join(b.stage, name+".initrd"), "usr": filepath.Join(b.stage, name+".usr"),
	}
	releasePaths(b.stage, name, paths)
	b.ukiPaths(b.stage, name, paths)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := b.report.Step("kernel", func() (string, error) { return b.kernelPhase(paths) }); err != nil {
			return err
		}
		return b.report.Step("initramfs", func() (string, error) { return b.initramfs(paths) })
	})
	g.Go(func() error { return b.report.Step("usr", func() (string, error) { return b.usr(gctx, paths["usr"]) }) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if b.sb != nil {
		if err := b.report.Step("uki", func() (string, error) { return b.ukis(paths) }); err != nil {
			return nil, err
		}
	}
	if err := b.report.Step("release", func() (string, error) { return b.release(paths) }); err != nil {
		return nil, err
	}
	if err := b.report.Step("disk", func() (string, error) { return b.disk(paths) }); err != nil {
		return nil, err
	}
	return b.finish(paths)
}
