package qemutests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign"
)

// TestARM64Boot builds manifests/minimal.yaml for arm64 (without its
// amd64 lock, so the build pins the arm64 packages of the archive) and
// boots it once under qemu-system-aarch64 (TCG, virt, cortex-a57, AAVMF)
// to the healthy line, then runs one command on its console shell. One
// boot only: the same image's update and reboot paths are the amd64
// tests', which share every line of code but the arch tables.
func TestARM64Boot(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	mf := writeMinimalWith(t, dir, "version: 1.0.0\n", "version: 1.0.0\narch: arm64\n",
		"linux-image-cloud-amd64", "linux-image-cloud-arm64")
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatalf("build for arm64: %v", err)
	}
	if res.Run.Arch != "arm64" {
		t.Errorf("summary arch = %q, want arm64", res.Run.Arch)
	}
	data, err := os.ReadFile(artifact(t, res, "release"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sign.ParseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Arch != "arm64" || !strings.Contains(strings.Join(rec.KernelArgs, " "), "console=ttyAMA0") {
		t.Errorf("release record: arch %q, kernel_args %q; want arm64 with console=ttyAMA0", rec.Arch, rec.KernelArgs)
	}

	// The reference tools accept the arm64 disk, USR and hash tree.
	disk, usr := artifact(t, res, "disk"), artifact(t, res, "usr")
	if out := tool(t, "sgdisk", "-v", disk); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	if out := tool(t, "unsquashfs", "-s", usr); !strings.Contains(out, "Found a valid SQUASHFS 4:0 superblock") {
		t.Errorf("unsquashfs -s:\n%s", out)
	}
	tool(t, "veritysetup", "verify", usr, usr, rec.VerityRoot, fmt.Sprintf("--hash-offset=%d", rec.HashOffset),
		"--salt="+rec.VeritySalt, "--uuid="+rec.VerityUUID)

	start := time.Now()
	v := vmtest.Start(t, qemu.Config{Arch: res.Run.Arch, Disk: disk, Vars: filepath.Join(dir, "vars.fd"), MemoryMiB: 512})
	v.Expect(0, `imgbuild-stage1: started \(kernel \S+-arm64,`, 3*time.Minute)
	h := v.ExpectHealthy(3 * time.Minute)
	t.Logf("arm64: %s; %.1fs after QEMU started", h.Line, time.Since(start).Seconds())
	if got := v.Run("uname -m", time.Minute); got != "aarch64" {
		t.Errorf("uname -m = %q, want aarch64", got)
	}
}
