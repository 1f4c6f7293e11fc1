package qemutests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// TestAWSTargetBootsFromNVMe builds --target aws, checks its VMDK against
// the raw image with qemu-img, and boots the raw image (what an EBS
// snapshot holds) the way a Nitro instance attaches it: UEFI, the disk
// on an NVMe controller.
func TestAWSTargetBootsFromNVMe(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := manifestCopy(t, "minimal", work)
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out"), Target: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	raw, vmdk := artifact(t, res, "disk"), artifact(t, res, "vmdk")
	for _, args := range [][]string{{"check", "-f", "vmdk", vmdk}, {"compare", "-f", "raw", "-F", "vmdk", raw, vmdk}} {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	var reg output.AWSRegistration
	data, err := os.ReadFile(artifact(t, res, "aws"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.BootMode != "uefi" || !reg.EnaSupport || reg.ImdsSupport != "v2.0" || reg.Architecture != "x86_64" {
		t.Errorf("registration %+v", reg)
	}
	v := vmtest.Start(t, qemu.Config{Disk: diskCopy(t, res), DiskBus: "nvme", Vars: filepath.Join(work, "vars"), MemoryMiB: 512})
	v.Expect(0, `imgbuild-stage1: USR /dev/nvme0n1p3`, 3*time.Minute)
	// No metadata service here, and restrict=on keeps the guest from
	// this machine's own 169.254.169.254: the image says so in one line
	// and boots on.
	_, line := v.Expect(0, `imgbuild-sysinit: instance metadata unavailable: .*; booting without it`, 4*time.Minute)
	t.Log(line)
	line = v.ExpectHealthy(4 * time.Minute).Line
	t.Log(line)
}
