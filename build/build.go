// Package build turns a manifest into a bootable image. pipeline.go
// only orchestrates: each phase is a method whose parameters are what it
// needs and whose result is what it made (kernelOut, usrOut, releaseOut,
// diskOut, ...), and run hands one phase's result to the next. Each
// phase has its own file:
//
//	resolve.go    pin the inputs in the lock file (Debian packages, Go modules, epoch)
//	fetch.go      download the Debian packages, build the manifest's Go binaries
//	own.go        the on-image programs (stage-1, sysinit, sshd): embedded, else built from source
//	image.go      container services' images: pinned, flattened (build/oci), laid out on USR
//	kernel.go     the kernel and the closure of the modules stage-1 loads
//	usr.go        the USR tree, its squashfs and (verity.go) its dm-verity tree
//	initramfs.go  stage-1, modules and trusted keys in a cpio archive
//	sign.go       the release record and its signature (secureboot.go: UKIs)
//	disk.go       the ESP files and the GPT disk
//	convert.go    other formats of the disk (qcow2)
//	publish.go    the summary, the lock file, and the atomic rename into place
//
// Every output is made in a staging directory beside the output
// directory and renamed into place only when the whole build has
// succeeded; cache.go keeps content-addressed results between builds.
package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	semver "github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/manifest"
)

// Options configure one build.
type Options struct {
	Manifest string // path of the manifest
	// Loaded is the manifest already read by Load (Version applied);
	// nil: Run loads Manifest itself.
	Loaded   *manifest.Manifest
	OutDir   string
	Target   string // qemu (default)
	CacheDir string
	Lock     LockMode
	Report   output.Reporter
	// SignKey is the private key file (from imgbuild keygen) that signs
	// the release record; empty builds unsigned, which the manifest must
	// allow (security.allow_unsigned).
	SignKey string
	// Version replaces the manifest's version (a semantic version), as
	// release builds do (make nightly).
	Version string
	// SecureBootKeys is a directory from imgbuild keygen --secure-boot:
	// the ESP then holds systemd-boot and a UKI per slot signed with its
	// db key, and the PK/KEK/db .auth files systemd-boot enrolls.
	SecureBootKeys string
	// Verbose reports the commands and inputs of each step as "info"
	// events.
	Verbose bool
	// QCOW2 also writes NAME.qcow2, the disk as a qcow2 image.
	QCOW2 bool
	// DebArchive gives the Debian archives' base URLs (NAME=URL ...,
	// as $IMGBUILD_DEBIAN_ARCHIVE); "" reads them from the environment,
	// the user config file or the host's apt sources.
	DebArchive string
}

// Targets lists the supported --target values: qemu (a raw disk, and
// qcow2 with --qcow2) and aws (the raw disk, a stream-optimized VMDK and
// an AMI registration file) and pxe (the raw disk, and a kernel, a PXE
// initramfs carrying USR, an iPXE script and a UKI for a diskless boot).
var Targets = []string{"qemu", "aws", "pxe"}

// checkArchSupport refuses what an arm64 image does not have yet: the
// aws and pxe targets (an AMI registration and the PXE layout are
// x86_64 ones) and Secure Boot (its UKIs and enrolment are tested on
// OVMF only).
func checkArchSupport(m *manifest.Manifest, opts Options) error {
	if m.Arch == "amd64" {
		return nil
	}
	if opts.Target != "qemu" {
		return fmt.Errorf("%s: --target %s: only the qemu target builds arch %s", m.Where("arch"), opts.Target, m.Arch)
	}
	if opts.SecureBootKeys != "" {
		return fmt.Errorf("%s: --secure-boot-keys: Secure Boot is amd64 only; arch %s builds without it", m.Where("arch"), m.Arch)
	}
	return nil
}

// Run builds the image described by opts.
func Run(ctx context.Context, opts Options) (*output.Result, error) {
	if opts.Target == "" {
		opts.Target = "qemu"
	}
	if !slices.Contains(Targets, opts.Target) {
		return nil, fmt.Errorf("--target %q: unknown target (supported: %s)", opts.Target, strings.Join(Targets, ", "))
	}
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir()
	}
	m := opts.Loaded
	if m == nil {
		var err error
		if m, err = Load(opts.Manifest, opts.Version); err != nil {
			return nil, err
		}
	}
	if err := checkArchSupport(m, opts); err != nil {
		return nil, err
	}
	var err error
	// go build runs in the source tree: every path handed on must be absolute.
	if opts.OutDir, err = filepath.Abs(opts.OutDir); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if opts.CacheDir, err = filepath.Abs(opts.CacheDir); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	stage, release, err := newStaging(opts.OutDir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	defer release()
	b := &builder{m: m, opts: opts, stage: stage, report: opts.Report}
	res, err := b.run(ctx)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Load reads the manifest at path and, when version is set, replaces
// its version (a semantic version, --version) as Run would: a caller
// that needs the manifest before building hands it on in
// Options.Loaded.
func Load(path, version string) (*manifest.Manifest, error) {
	m, err := manifest.Load(path)
	if err != nil {
		return nil, err
	}
	if version != "" {
		if err := semver.Check(version); err != nil {
			return nil, fmt.Errorf("--version: %w", err)
		}
		m.Version = version
	}
	return m, nil
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
