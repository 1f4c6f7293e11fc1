package build

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/manifest"
)

// BootloaderPackage is the Debian package systemd-boot comes from.
const BootloaderPackage = "systemd-boot-efi"

// LockMode says what a build may do to the lock file.
type LockMode int

const (
	// LockUpdateMissing pins inputs the lock lacks and keeps the rest.
	LockUpdateMissing LockMode = iota
	// LockFrozen fails instead of changing the lock (--locked).
	LockFrozen
	// LockRepin resolves every input afresh (--update-lock).
	LockRepin
)

const repinHint = "imgbuild build --update-lock -f MANIFEST"

// debNames lists the Debian packages the manifest needs, keyed as in the
// lock file.
func debNames(m *manifest.Manifest) []string {
	set := map[string]bool{BootloaderPackage: true}
	if m.Kernel.Package != "" {
		set[m.Kernel.Package] = true
	}
	for _, b := range m.Binaries {
		if b.Deb != "" {
			set[b.Deb] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolveLock returns the lock this build uses: the old one where it
// covers the manifest, completed or renewed per mode. changes says what
// differs from old, for the --locked error and the log.
func resolveLock(ctx context.Context, m *manifest.Manifest, old *manifest.Lock, mode LockMode, toolchain, workDir string, debs *debSource) (*manifest.Lock, []string, error) {
	if old == nil {
		old = &manifest.Lock{}
	}
	var changes []string
	l := &manifest.Lock{File: old.File, SourceDateEpoch: old.SourceDateEpoch, GoToolchain: toolchain, Archive: old.Archive, Debs: map[string]manifest.DebPin{}, Go: map[string]manifest.GoPin{}}
	if old.GoToolchain != "" && old.GoToolchain != toolchain {
		if mode != LockRepin {
			return nil, nil, fmt.Errorf("%s: pins Go toolchain %s but this machine has %s: the on-image programs would differ; use Go %s (or an imgbuild made with it by make) or re-pin with %s",
				lockName(m, old), old.GoToolchain, toolchain, old.GoToolchain, repinHint)
		}
	}
	if old.GoToolchain != toolchain {
		changes = append(changes, "go toolchain "+toolchain)
	}
	for _, name := range debNames(m) {
		if pin, ok := old.Debs[name]; ok && mode != LockRepin {
			if mode == LockUpdateMissing && pin.Source == "" {
				if full, ok := debs.complete(ctx, pin); ok {
					pin = full
					changes = append(changes, "Debian package "+name+": recorded its archive, suite and pool path")
				}
			}
			l.Debs[name] = pin
			continue
		}
		if mode == LockFrozen {
			changes = append(changes, "Debian package "+name+" is not pinned")
			continue
		}
		p, err := resolveDeb(ctx, m, name, debs)
		if err != nil {
			return nil, nil, err
		}
		l.Debs[name] = manifest.DebPin{Package: p.Name, Version: p.Version, Arch: p.Arch, SHA256: p.SHA256,
			Source: p.Source, Suite: p.Suite, Filename: p.Filename, Snapshot: p.Snapshot}
		if p.Source == "" {
			// apt's Filename is the same pool path, but without the
			// archive's name it cannot be fetched from: keep locks
			// written through apt as they were.
			pin := l.Debs[name]
			pin.Filename = ""
			l.Debs[name] = pin
		}
		if old.Debs[name] != l.Debs[name] {
			changes = append(changes, fmt.Sprintf("Debian package %s pinned to %s %s", name, p.Name, p.Version))
		}
	}
	if l.Archive == nil && recordsArchive(l) {
		l.Archive = debs.pin
		changes = append(changes, "Debian archive pinned")
	}
	for name := range old.Debs {
		if _, ok := l.Debs[name]; !ok {
			changes = append(changes, "Debian package "+name+" no longer used")
		}
	}
	for _, b := range m.Binaries {
		if b.Go == "" {
			continue
		}
		if pin, ok := old.Go[b.Name]; ok && pin.Package == b.Go && pin.Version == b.Version && mode != LockRepin {
			l.Go[b.Name] = pin
			continue
		}
		if mode == LockFrozen {
			changes = append(changes, fmt.Sprintf("Go binary %s (%s@%s) is not pinned", b.Name, b.Go, b.Version))
			continue
		}
		p, err := gobuild.Resolve(ctx, workDir, b.Go, b.Version)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: binary %s: %w", m.File, b.Name, err)
		}
		l.Go[b.Name] = manifest.GoPin{Package: p.Package, Version: p.Version, GoMod: p.GoMod, GoSum: p.GoSum}
		changes = append(changes, fmt.Sprintf("Go binary %s pinned to %s@%s", b.Name, b.Go, b.Version))
	}
	imgChanges, err := pinImages(ctx, m, old, l, mode)
	if err != nil {
		return nil, nil, err
	}
	changes = append(changes, imgChanges...)
	if mode == LockFrozen && len(changes) > 0 {
		return nil, nil, fmt.Errorf("%s is out of date with %s (--locked): %s; run imgbuild build without --locked to update it",
			lockName(m, old), m.File, strings.Join(changes, "; "))
	}
	return l, changes, nil
}

// recordsArchive tells whether a pin names its archive, which the lock's
// archive section must then describe.
func recordsArchive(l *manifest.Lock) bool {
	for _, p := range l.Debs {
		if p.Source != "" {
			return true
		}
	}
	return false
}

func resolveDeb(ctx context.Context, m *manifest.Manifest, name string, debs *debSource) (deb.Package, error) {
	r, err := debs.Resolver()
	if err != nil {
		return deb.Package{}, fmt.Errorf("%s: Debian package %s: %w", m.Where(debField(m, name)), name, err)
	}
	var p deb.Package
	if name == m.Kernel.Package {
		p, err = r.ResolveKernelMeta(ctx, name)
	} else {
		p, err = r.Resolve(ctx, name)
	}
	if err != nil {
		return p, fmt.Errorf("%s: Debian package %s: %w", m.Where(debField(m, name)), name, err)
	}
	return p, nil
}

// checkLockArch refuses a lock pinned for an arch other than the
// manifest's: its packages would not run on the image.
func checkLockArch(m *manifest.Manifest, l *manifest.Lock) error {
	if l == nil {
		return nil
	}
	wrong := func(what, arch string) error {
		return fmt.Errorf("%s: %s is for %s but %s has arch %s: re-pin with %s",
			lockName(m, l), what, arch, m.Where("arch"), m.Arch, repinHint)
	}
	if l.Archive != nil {
		for _, s := range l.Archive.Sources {
			if s.Arch != m.Arch {
				return wrong("archive source "+s.Name, s.Arch)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.Debs)) {
		// Architecture: all packages are the same files on every arch.
		if a := l.Debs[name].Arch; a != m.Arch && a != "all" {
			return wrong("Debian package "+name, a)
		}
	}
	return nil
}

func lockName(m *manifest.Manifest, l *manifest.Lock) string {
	if l != nil && l.File != "" {
		return l.File
	}
	return manifest.LockPath(m.File)
}

func pinPackage(p manifest.DebPin) deb.Package {
	return deb.Package{Name: p.Package, Version: p.Version, Arch: p.Arch, SHA256: p.SHA256,
		Source: p.Source, Suite: p.Suite, Filename: p.Filename, Snapshot: p.Snapshot}
}

// sourceDateEpoch is SOURCE_DATE_EPOCH from the environment, else the
// lock's, else (a new lock) the newest file time in the bootloader
// package: a time fixed by the pinned inputs, never the clock.
func sourceDateEpoch(l *manifest.Lock, bootloaderDeb string) (int64, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
		}
		return v, nil
	}
	if l.SourceDateEpoch != 0 {
		return l.SourceDateEpoch, nil
	}
	newest, err := deb.NewestModTime(bootloaderDeb)
	if err != nil {
		return 0, fmt.Errorf("source date epoch: %w", err)
	}
	return newest.Unix(), nil
}

// debField is the manifest field that asks for a Debian package.
func debField(m *manifest.Manifest, name string) string {
	if name == m.Kernel.Package {
		return "kernel.package"
	}
	for i, b := range m.Binaries {
		if b.Deb == name {
			return fmt.Sprintf("binaries[%d].deb", i)
		}
	}
	return ""
}

// pinned is what settling the lock found besides the lock itself.
type pinned struct {
	toolchain string      // the Go toolchain the lock records
	own       *ownbin.Set // the embedded on-image programs; nil: build them from source
	changes   []string    // what this run changed in the lock
}

// pin settles the lock (b.lock): which exact inputs this build uses.
func (b *builder) pin(ctx context.Context) (pinned, error) {
	return step(b.report, "resolve", func() (pinned, string, error) {
		var p pinned
		var err error
		if p.toolchain, p.own, err = b.settleToolchain(ctx); err != nil {
			return p, "", err
		}
		old, err := manifest.LoadLock(manifest.LockPath(b.m.File))
		if err != nil {
			return p, "", err
		}
		if err := checkLockArch(b.m, old); err != nil {
			if b.opts.Lock != LockRepin {
				return p, "", err
			}
			// Re-pinning for another arch reads that arch's archive.
			old.Archive = nil
		}
		var pin *manifest.ArchivePin
		if old != nil {
			pin = old.Archive
		}
		b.debs = newDebSource(b.opts.CacheDir, b.opts.DebArchive, b.m.Arch, pin)
		b.lock, p.changes, err = resolveLock(ctx, b.m, old, b.opts.Lock, p.toolchain, filepath.Join(b.opts.CacheDir, "tmp"), b.debs)
		if err != nil {
			return p, "", err
		}
		if len(p.changes) == 0 {
			return p, "lock file up to date", nil
		}
		return p, strings.Join(p.changes, "; "), nil
	})
}

// embeddedPrograms is ownbin.Embedded; tests pretend to carry programs.
var embeddedPrograms = ownbin.Embedded

// settleToolchain says which Go toolchain the lock records, with the
// embedded on-image programs (nil when imgbuild carries none): the
// toolchain that built them, else the go on PATH, which then builds them. go runs only when something needs it (the source
// fallback, a manifest Go binary): a deb-only manifest builds with an
// imgbuild made by make on a host without Go.
func (b *builder) settleToolchain(ctx context.Context) (string, *ownbin.Set, error) {
	own, err := embeddedPrograms()
	if err != nil {
		return "", nil, err
	}
	why := "this imgbuild does not embed its on-image programs (it was not made by make)"
	if own != nil && b.m.Arch != ownbin.Arch {
		// Programs of another arch are no use: build this arch's from
		// source, with the go on PATH, as without embedded ones.
		own, why = nil, fmt.Sprintf("%s: the on-image programs this imgbuild embeds are %s, not %s", b.m.Where("arch"), ownbin.Arch, b.m.Arch)
	}
	if own == nil {
		tc, err := gobuild.Toolchain(ctx)
		if err != nil {
			return "", nil, fmt.Errorf("%s, so it builds them from source: %w", why, err)
		}
		return tc, nil, nil
	}
	bin := firstGoBinary(b.m)
	if bin < 0 {
		return own.Toolchain, own, nil
	}
	local, err := gobuild.Toolchain(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("%s: binary %s is built with Go: %w", b.m.Where(fmt.Sprintf("binaries[%d].go", bin)), b.m.Binaries[bin].Name, err)
	}
	// The lock records one toolchain for the on-image programs and the
	// manifest's Go binaries alike.
	if local != own.Toolchain {
		return "", nil, fmt.Errorf("%s: binary %s would be built with %s, but this imgbuild's on-image programs were built with %s and the lock records one toolchain: put Go %s on PATH or make imgbuild with %s",
			b.m.Where(fmt.Sprintf("binaries[%d].go", bin)), b.m.Binaries[bin].Name, local, own.Toolchain, own.Toolchain, local)
	}
	return local, own, nil
}

// firstGoBinary is the index of the manifest's first Go binary, or -1.
func firstGoBinary(m *manifest.Manifest) int {
	for i, bin := range m.Binaries {
		if bin.Go != "" {
			return i
		}
	}
	return -1
}
