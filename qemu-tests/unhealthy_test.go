package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/qemu"
)

// TestFailingHealthCheckIsNotMarkedGood boots an image whose service
// never passes its health check: there must be no healthy line and the
// boot entry must keep counting tries, so systemd-boot can fall back.
func TestFailingHealthCheckIsNotMarkedGood(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := filepath.Join(work, "sick.yaml")
	os.WriteFile(mf, []byte(`name: sick
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
security:
  allow_unsigned: true
binaries:
  - name: busybox
    deb: busybox-static
    path: /bin/busybox
services:
  - name: web
    command: /usr/bin/busybox
    args: [httpd, -f, -p, "8080"]
    health: {tcp: 8081, interval: 500ms}
disk:
  usr: 32MiB
  root: 32MiB
`), 0o644)
	res, err := build.Run(context.Background(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	img := artifact(t, res, "disk")
	v := boot(t, img, filepath.Join(work, "vars"), 512)
	i, _ := v.Expect(0, `imgbuild-sysinit: web health check failing`, 3*time.Minute)
	// Give it time to (wrongly) declare itself healthy.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, line, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`imgbuild-sysinit: (healthy|marked good)`), qemu.FailurePattern); err == nil {
		t.Fatalf("a service failing its check, yet: %s", line)
	}
	v.Expect(i+1, `imgbuild-sysinit: web health check failing`, time.Minute) // still checking
	v.Powerdown()
	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].File != "imgbuild-a+2-1.conf" {
		t.Errorf("entries after an unhealthy boot = %+v, want imgbuild-a+2-1.conf (one try used, not marked good)", r.Entries)
	}
}
