package build

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/images/qcow2"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/internal/deb"
	"github.com/imgbuild/imgbuild/internal/gobuild"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/manifest"
	"github.com/imgbuild/imgbuild/rootfs/squashfs"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

// Module is imgbuild's Go module path; stage-1 and sysinit are built from it.
const Module = "github.com/imgbuild/imgbuild"

type builder struct {
	m      *manifest.Manifest
	opts   Options
	stage  string
	report Reporter

	lock      *manifest.Lock
	changes   []string
	toolchain string
	epoch     time.Time
	id        identities

	mu       sync.Mutex
	debs     map[string]string // lock key -> .deb path
	binaries map[string]string // binary name -> built file
	stage1   string
	sysinit  string
	kernel   *kernel.Kernel
	modules  []kernel.Module
	sec      security           // signing keys, verity tree, release record (sign.go)
	sb       *secureboot.KeySet // --secure-boot-keys; nil: no Secure Boot layout
	diskSum  string             // the image's sha256 (stepcache.go)
}

func (b *builder) run(ctx context.Context) (*Result, error) {
	b.debs, b.binaries, b.id = map[string]string{}, map[string]string{}, newIdentities(b.m)
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
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.report.step("initramfs", func() (string, error) { return b.initramfs(paths) }) })
	g.Go(func() error { return b.report.step("usr", func() (string, error) { return b.usr(gctx, paths["usr"]) }) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := b.report.step("release", func() (string, error) { return b.release(paths) }); err != nil {
		return nil, err
	}
	if err := b.report.step("disk", func() (string, error) { return b.disk(paths) }); err != nil {
		return nil, err
	}
	return b.finish(paths)
}

// pin settles the lock: which exact inputs this build uses.
func (b *builder) pin(ctx context.Context) error {
	return b.report.step("resolve", func() (string, error) {
		tc, err := gobuild.Toolchain(ctx)
		if err != nil {
			return "", err
		}
		b.toolchain = tc
		old, err := manifest.LoadLock(manifest.LockPath(b.m.File))
		if err != nil {
			return "", err
		}
		b.lock, b.changes, err = resolveLock(ctx, b.m, old, b.opts.Lock, tc, filepath.Join(b.opts.CacheDir, "tmp"))
		if err != nil {
			return "", err
		}
		if len(b.changes) == 0 {
			return "lock file up to date", nil
		}
		return strings.Join(b.changes, "; "), nil
	})
}

// fetch downloads the Debian packages and builds the Go programs, in
// parallel.
func (b *builder) fetch(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, pin := range b.lock.Debs {
		g.Go(func() error {
			return b.report.step("fetch "+name, func() (string, error) {
				step := "fetch " + name
				b.verbose(fmt.Sprintf("%s: %s=%s sha256 %s (cached as %s, else apt-get download)", step, pin.Package, pin.Version, pin.SHA256, deb.CachePath(b.opts.CacheDir, pin.SHA256)))
				p, err := deb.Download(gctx, pinPackage(pin), b.opts.CacheDir, deb.WithRepinHint(repinHint),
					deb.WithProgress(func(n int64) { b.report.send(Event{Step: step, Status: "progress", Done: n}) }))
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
		return b.report.step("go: stage-1 and sysinit", func() (string, error) { return b.buildOwnCached(gctx) })
	})
	sem := make(chan struct{}, gobuild.Workers)
	for _, bin := range b.m.Binaries {
		if bin.Go == "" {
			continue
		}
		g.Go(func() error {
			sem <- struct{}{}
			defer func() { <-sem }()
			return b.report.step("go: "+bin.Name, func() (string, error) { return b.buildGo(gctx, bin) })
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

func (b *builder) initramfs(paths map[string]string) (string, error) {
	var k *kernel.Kernel
	var err error
	if b.m.Kernel.Package != "" {
		k, err = kernel.FromDeb(b.debs[b.m.Kernel.Package], b.opts.CacheDir)
	} else {
		k, err = kernel.FromLocal(b.rel(b.m.Kernel.Path), b.rel(b.m.Kernel.ModulesDir))
	}
	if err != nil {
		return "", fmt.Errorf("%s: kernel: %w", b.m.File, err)
	}
	mods, err := k.Closure(append(append([]string(nil), kernel.DefaultModules...), b.m.Kernel.Modules...))
	if err != nil {
		return "", fmt.Errorf("%s: kernel.modules: %w", b.m.File, err)
	}
	b.kernel, b.modules = k, mods
	if err := copyFile(k.VmlinuzPath, paths["kernel"]); err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	in := initramfs.Input{Init: b.stage1, MTime: b.epoch.Unix(), Files: b.trustFiles()}
	for _, m := range mods {
		in.Modules = append(in.Modules, initramfs.Module{Name: m.Name, Path: m.Path})
	}
	hit, err := b.writeInitramfs(paths["initramfs"], in)
	if err != nil {
		return "", err
	}
	return cacheNote(hit, fmt.Sprintf("kernel %s, %d modules", k.Release, len(mods))), nil
}

func (b *builder) rel(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(b.m.File), p)
}

func (b *builder) usr(ctx context.Context, out string) (string, error) {
	for _, bin := range b.m.Binaries {
		switch {
		case bin.Deb != "":
			p, err := b.debFile(bin)
			if err != nil {
				return "", err
			}
			b.binaries[bin.Name] = p
		case bin.Local != "":
			b.binaries[bin.Name] = b.rel(bin.Local)
		}
	}
	entries, err := usrEntries(b.m, usrInput{binaries: b.binaries, sysinit: b.sysinit, epoch: b.epoch})
	if err != nil {
		return "", err
	}
	return b.writeUSR(out, entries, squashfs.Options{Compression: squashfs.ZSTD, ModTime: b.epoch})
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

func (b *builder) disk(paths map[string]string) (string, error) {
	boot, err := deb.ReadFile(b.debs[BootloaderPackage], "/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
	if err != nil {
		return "", fmt.Errorf("systemd-boot: %w", err)
	}
	files := []esp.File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: boot},
		{Path: "EFI/systemd/systemd-bootx64.efi", Data: boot},
		{Path: "loader/loader.conf", Data: []byte(loaderConf)},
		{Path: EntryName("a", 3), Data: []byte(b.slotEntry("a"))},
		fileFrom("imgbuild/a/vmlinuz", paths["kernel"]),
		fileFrom("imgbuild/a/initrd", paths["initramfs"]),
	}
	if b.sb != nil {
		if files, err = b.secureBootFiles(paths); err != nil {
			return "", err
		}
	}
	files = append(files, b.releaseESPFiles()...)
	sum := sha256.Sum256([]byte(b.m.Name + "/esp"))
	volID := binary.LittleEndian.Uint32(sum[:4])
	usrA := paths["usr"]
	d := b.m.Disk
	layout := disk.Layout{DiskGUID: b.id.disk, Partitions: []disk.Partition{
		{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP, GUID: b.id.esp, Size: int64(d.ESP),
			Content: func(w io.WriterAt) error {
				return esp.Write(w, int64(d.ESP), files, volID, "EFI-SYSTEM", b.epoch)
			}},
		{Number: 3, Label: "USR-A", TypeGUID: disk.TypeUSR, GUID: b.id.usrA, Size: int64(d.USR),
			Attributes: disk.USRAttributes(1, 0, true), Content: copyInto(usrA)},
		{Number: 4, Label: "USR-B", TypeGUID: disk.TypeUSR, GUID: b.id.usrB, Size: int64(d.USR)},
		{Number: 6, Label: "OEM", TypeGUID: disk.TypeOEM, GUID: b.id.oem, Size: int64(d.OEM)},
		{Number: 9, Label: "ROOT", TypeGUID: disk.TypeROOT, GUID: b.id.root, Size: int64(d.Root)},
	}}
	dk, err := diskKey(layout, files, volID, b.epoch, usrA)
	if err != nil {
		return "", err
	}
	if err := disk.Write(paths["disk"], layout); err != nil {
		return "", err
	}
	if b.diskSum, err = b.diskDigest(dk, paths["disk"]); err != nil {
		return "", err
	}
	st, err := os.Stat(paths["disk"])
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d MiB", st.Size()>>20), nil
}

func fileFrom(espPath, hostPath string) esp.File {
	st, err := os.Stat(hostPath)
	size := int64(0)
	if err == nil {
		size = st.Size()
	}
	return esp.File{Path: espPath, Size: size, Open: func() (io.ReadCloser, error) { return os.Open(hostPath) }}
}

func copyInto(src string) func(w io.WriterAt) error {
	return func(w io.WriterAt) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.NewOffsetWriter(w, 0), f)
		return err
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// finish writes the summary, saves the lock and publishes the outputs.
func (b *builder) finish(paths map[string]string) (*Result, error) {
	res := &Result{Name: b.m.Name, Version: b.m.Version, Target: b.opts.Target, SourceDateEpoch: b.epoch.Unix(),
		LockChanges: b.changes, Run: RunSettings{MemoryMiB: int(b.m.Run.Memory >> 20)}}
	for _, f := range b.m.Run.Forwards {
		res.Run.Forwards = append(res.Run.Forwards, PortFwd{Host: f.Host, Guest: f.Guest})
	}
	kinds := append([]string{"disk", "kernel", "initramfs", "usr"}, b.releaseKinds()...)
	if b.opts.QCOW2 {
		paths["qcow2"] = filepath.Join(b.stage, b.m.Name+".qcow2")
		if err := b.report.step("qcow2", func() (string, error) { return "", qcow2.Convert(paths["disk"], paths["qcow2"]) }); err != nil {
			return nil, err
		}
		kinds = append(kinds, "qcow2")
	}
	for _, kind := range kinds {
		sum, size, err := b.artifactSum(kind, paths[kind])
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, Artifact{Kind: kind, Path: paths[kind], SHA256: sum, Size: size})
	}
	summary := filepath.Join(b.stage, b.m.Name+".json")
	final := *res
	// What this run changed in the lock is news for the caller, not a
	// property of the image: leaving it out keeps the summary file
	// reproducible.
	final.Artifacts, final.LockChanges = nil, nil
	for _, a := range res.Artifacts {
		a.Path = filepath.Base(a.Path)
		final.Artifacts = append(final.Artifacts, a)
	}
	data, err := json.MarshalIndent(final, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(summary, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if len(b.changes) > 0 || b.lock.File == "" {
		if err := b.lock.Save(manifest.LockPath(b.m.File)); err != nil {
			return nil, err
		}
	}
	arts, err := publish(b.stage, b.opts.OutDir, append(res.Artifacts, Artifact{Kind: "summary", Path: summary}))
	if err != nil {
		return nil, err
	}
	res.Artifacts = arts
	return res, nil
}
