package qemutests

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/kernel"
)

// TestLocalKernelBoots builds an image from a local bzImage and modules
// directory (the kernel the minimal build unpacked) instead of a
// package, and boots it to healthy.
func TestLocalKernelBoots(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	dir := filepath.Dir(filepath.Dir(artifact(t, res, "disk")))
	lock, err := os.ReadFile(filepath.Join(dir, "minimal.lock"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)linux-image-cloud-amd64:.*?sha256: ([0-9a-f]{64})`).FindSubmatch(lock)
	if m == nil {
		t.Fatalf("no kernel pin in\n%s", lock)
	}
	cache := build.DefaultCacheDir()
	k, err := kernel.FromDeb(deb.CachePath(cache, string(m[1])), cache)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mf := filepath.Join(work, "local.yaml")
	os.WriteFile(mf, []byte(`name: local-kernel
version: 1.0.0
kernel:
  path: `+k.VmlinuzPath+`
  modules_dir: `+k.ModulesDir+`
security:
  allow_unsigned: true
binaries:
  - name: busybox
    deb: busybox-static
    path: /bin/busybox
    links: [sh]
services:
  - name: web
    command: /usr/bin/busybox
    args: [httpd, -f, -p, "80"]
    health: {tcp: 80}
disk:
  usr: 32MiB
  root: 32MiB
`), 0o644)
	out, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	v := boot(t, artifact(t, out, "disk"), filepath.Join(work, "vars"), 512)
	v.Expect(0, `imgbuild-stage1: started \(kernel `+regexp.QuoteMeta(k.Release), 3*time.Minute)
	v.Expect(0, `imgbuild-sysinit: healthy \(1 services`, 2*time.Minute)
}
