package build

import (
	"context"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/manifest"
)

const lockManifest = `name: locks
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
security:
  allow_unsigned: true
binaries:
  - name: busybox
    deb: busybox-static
    path: /bin/busybox
`

// TestLockModes covers what a build may do to the lock file: pin what is
// missing (default), refuse to (--locked), or re-pin (--update-lock);
// and that the pinned Go toolchain is checked. It asks the machine's
// apt for the current candidates.
func TestLockModes(t *testing.T) {
	if testing.Short() {
		t.Skip("asks apt and downloads the kernel package to pin it")
	}
	ctx := context.Background()
	m, err := manifest.Parse("locks.yaml", []byte(lockManifest))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	if _, _, err := resolveLock(ctx, m, nil, LockFrozen, "go1.26.8", tmp, newDebSource(tmp, "", "amd64", nil)); err == nil ||
		!strings.Contains(err.Error(), "--locked") || !strings.Contains(err.Error(), "Debian package busybox-static is not pinned") {
		t.Fatalf("--locked without a lock: %v", err)
	}
	l, changes, err := resolveLock(ctx, m, nil, LockUpdateMissing, "go1.26.8", tmp, newDebSource(tmp, "", "amd64", nil))
	if err != nil {
		t.Fatal(err)
	}
	kpin := l.Debs["linux-image-cloud-amd64"]
	if !strings.HasPrefix(kpin.Package, "linux-image-6.") || len(kpin.SHA256) != 64 || len(l.Debs) != 3 {
		t.Fatalf("fresh lock pins %+v", l.Debs)
	}
	if len(changes) == 0 {
		t.Error("a fresh lock reports no changes")
	}

	// A complete lock is used as it is, even --locked, even if the
	// archive has moved on: a pin is never silently replaced.
	old := *l
	old.Debs = map[string]manifest.DebPin{}
	for k, v := range l.Debs {
		old.Debs[k] = v
	}
	bb := old.Debs["busybox-static"]
	bb.Version = "1:0.0-pinned-long-ago"
	old.Debs["busybox-static"] = bb
	for _, mode := range []LockMode{LockFrozen, LockUpdateMissing} {
		got, changes, err := resolveLock(ctx, m, &old, mode, "go1.26.8", tmp, newDebSource(tmp, "", "amd64", nil))
		if err != nil || len(changes) != 0 || got.Debs["busybox-static"].Version != bb.Version {
			t.Errorf("mode %d with a complete lock: %v, changes %v, busybox pin %+v", mode, err, changes, got.Debs["busybox-static"])
		}
	}
	got, changes, err := resolveLock(ctx, m, &old, LockRepin, "go1.26.8", tmp, newDebSource(tmp, "", "amd64", nil))
	if err != nil || got.Debs["busybox-static"].Version == bb.Version || !strings.Contains(strings.Join(changes, ";"), "busybox-static") {
		t.Errorf("--update-lock kept the old pin: %v, %v, %+v", err, changes, got.Debs["busybox-static"])
	}

	// A manifest that needs a package the lock lacks.
	m2, _ := manifest.Parse("locks.yaml", []byte(strings.Replace(lockManifest, "deb: busybox-static", "deb: busybox", 1)))
	if _, _, err := resolveLock(ctx, m2, l, LockFrozen, "go1.26.8", tmp, newDebSource(tmp, "", "amd64", nil)); err == nil || !strings.Contains(err.Error(), "Debian package busybox is not pinned") {
		t.Errorf("--locked with a package missing from the lock: %v", err)
	}

	if _, _, err := resolveLock(ctx, m, l, LockUpdateMissing, "go1.99.0", tmp, newDebSource(tmp, "", "amd64", nil)); err == nil ||
		!strings.Contains(err.Error(), "pins Go toolchain go1.26.8 but this machine has go1.99.0") {
		t.Errorf("toolchain mismatch: %v", err)
	}
}

// TestLockArch checks that a lock pinned for one arch is refused for a
// manifest of another, naming both, and that arch-independent packages
// pass.
func TestLockArch(t *testing.T) {
	m, err := manifest.Parse("locks.yaml", []byte(strings.Replace(lockManifest, "version: 1.0.0\n", "version: 1.0.0\narch: arm64\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	pin := func(arch string) map[string]manifest.DebPin {
		return map[string]manifest.DebPin{"busybox-static": {Package: "busybox-static", Version: "1", Arch: arch}}
	}
	if err := checkLockArch(m, &manifest.Lock{Debs: pin("arm64")}); err != nil {
		t.Errorf("arm64 lock for an arm64 manifest: %v", err)
	}
	if err := checkLockArch(m, &manifest.Lock{Debs: pin("all")}); err != nil {
		t.Errorf("arch all package: %v", err)
	}
	err = checkLockArch(m, &manifest.Lock{Debs: pin("amd64")})
	if err == nil || !strings.Contains(err.Error(), "Debian package busybox-static is for amd64 but locks.yaml:3:1 has arch arm64") {
		t.Errorf("amd64 package in an arm64 build: %v", err)
	}
	src := &manifest.ArchivePin{Sources: []manifest.ArchiveSource{{Name: "debian", Arch: "amd64"}}}
	if err := checkLockArch(m, &manifest.Lock{Archive: src, Debs: pin("arm64")}); err == nil || !strings.Contains(err.Error(), "archive source debian is for amd64") {
		t.Errorf("amd64 archive in an arm64 build: %v", err)
	}
}
