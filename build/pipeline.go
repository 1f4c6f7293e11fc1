package build

import (
	"context"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/manifest"
)

// Module is imgbuild's Go module path; stage-1 and sysinit are built from it.
const Module = "github.com/imgbuild/imgbuild"

// builder holds what every phase shares: the manifest and options, the
// reporter, and the lock. Everything a phase makes is its result,
// handed by run to the phases that need it.
type builder struct {
	m      *manifest.Manifest
	opts   Options
	stage  string // the staging directory every output is made in
	report output.Reporter
	// lock pins every input; pin settles it before anything is made,
	// and its SourceDateEpoch (set after fetch) is every file's time.
	lock *manifest.Lock
	// debs resolves and fetches Debian packages (set by pin).
	debs *debSource
}

// epoch is the build's SOURCE_DATE_EPOCH, from the lock.
func (b *builder) epoch() time.Time { return time.Unix(b.lock.SourceDateEpoch, 0).UTC() }

// staged is the path of an output in the staging directory.
func (b *builder) staged(suffix string) string { return filepath.Join(b.stage, b.m.Name+suffix) }

// artifacts are the staged output files of one build; "" (or nil) where
// this build makes no such file.
type artifacts struct {
	disk, kernel, initramfs, usr string
	record, signature            string            // the release record; its signature in signed builds
	uki                          map[string]string // slot -> signed UKI, Secure Boot builds
	qcow2                        string            // --qcow2
	vmdk, aws                    string            // --target aws: the VMDK and the AMI registration file
	pxe                          pxeOut            // --target pxe
}

// list names every output by its artifact kind, in the summary's order.
func (a artifacts) list() []output.Artifact {
	files := [][2]string{{"disk", a.disk}, {"kernel", a.kernel}, {"initramfs", a.initramfs}, {"usr", a.usr},
		{"release", a.record}, {"signature", a.signature}}
	for _, slot := range ukiSlots {
		files = append(files, [2]string{ukiKind(slot), a.uki[slot]})
	}
	files = append(files, [2]string{"qcow2", a.qcow2}, [2]string{"vmdk", a.vmdk}, [2]string{"aws", a.aws},
		[2]string{"pxe-initrd", a.pxe.initrd}, [2]string{"ipxe", a.pxe.ipxe}, [2]string{"pxe-efi", a.pxe.efi})
	var out []output.Artifact
	for _, f := range files {
		if f[1] != "" {
			out = append(out, output.Artifact{Kind: f[0], Path: f[1]})
		}
	}
	return out
}

// step runs a phase as a reported step and returns what it made.
func step[T any](r output.Reporter, name string, phase func() (T, string, error)) (T, error) {
	var out T
	err := r.Step(name, func() (detail string, err error) {
		out, detail, err = phase()
		return detail, err
	})
	return out, err
}

// run is the pipeline: each phase gets the results it depends on, so
// the order below is the order the compiler allows. The kernel and
// initramfs are made beside USR; the release record needs all three
// (and the UKIs, which need the kernel, initramfs and USR's root hash);
// the disk needs the record.
func (b *builder) run(ctx context.Context) (*output.Result, error) {
	keys, err := b.loadKeys()
	if err != nil {
		return nil, err
	}
	sb, err := b.loadSecureBoot()
	if err != nil {
		return nil, err
	}
	pin, err := b.pin(ctx)
	if err != nil {
		return nil, err
	}
	in, err := b.fetch(ctx, pin)
	if err != nil {
		return nil, err
	}
	bootloader := in.debs[BootloaderPackage]
	if b.lock.SourceDateEpoch, err = sourceDateEpoch(b.lock, bootloader); err != nil {
		return nil, err
	}
	var (
		k   kernelOut
		ird string
		usr usrOut
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if k, err = step(b.report, "kernel", func() (kernelOut, string, error) {
			return b.kernelPhase(kernelIn{deb: in.debs[b.m.Kernel.Package]})
		}); err != nil {
			return err
		}
		ird, err = step(b.report, "initramfs", func() (string, string, error) {
			return b.initramfs(initramfsIn{stage1: in.own.stage1, modules: k.modules, keys: keys})
		})
		return err
	})
	g.Go(func() error {
		var err error
		usr, err = step(b.report, "usr", func() (usrOut, string, error) {
			return b.usr(gctx, usrIn{debs: in.debs, goBins: in.goBins, own: in.own, keys: keys, images: in.images})
		})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	boot := bootFiles{kernel: k.vmlinuz, initramfs: ird}
	var ukis map[string]string
	if sb != nil {
		if ukis, err = step(b.report, "uki", func() (map[string]string, string, error) {
			return b.ukis(ukiIn{boot: boot, bootloader: bootloader, verity: usr.verity, sb: sb})
		}); err != nil {
			return nil, err
		}
	}
	rel, err := step(b.report, "release", func() (releaseOut, string, error) {
		return b.release(releaseIn{boot: boot, usr: usr, ukis: ukis, key: keys.key})
	})
	if err != nil {
		return nil, err
	}
	dk, err := step(b.report, "disk", func() (diskOut, string, error) {
		return b.disk(diskIn{boot: boot, usr: usr, uki: ukis, bootloader: bootloader, sb: sb, release: rel})
	})
	if err != nil {
		return nil, err
	}
	conv, err := b.convert(dk)
	if err != nil {
		return nil, err
	}
	art := artifacts{disk: dk.path, kernel: boot.kernel, initramfs: boot.initramfs, usr: usr.path,
		record: rel.record, signature: rel.signature, uki: ukis, qcow2: conv.qcow2, vmdk: conv.vmdk, aws: conv.aws}
	if b.opts.Target == "pxe" {
		if art.pxe, err = b.pxe(pxeIn{boot: boot, usr: usr, disk: dk, release: rel, key: keys.key, sb: sb, bootloader: bootloader}); err != nil {
			return nil, err
		}
	}
	return b.finish(art, dk.sum, pin.changes)
}
