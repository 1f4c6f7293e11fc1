// Package tests boots stage-1 under QEMU with a test disk. It needs an
// unpacked Debian kernel package (IMGBUILD_TEST_KERNEL_DIR, default
// /tmp/dev/kernel), qemu-system-x86_64, sgdisk and mksquashfs; skipped
// with -short.
package tests

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/u-root/u-root/pkg/cpio"
)

const (
	usrUUID  = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"
	rootUUID = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"
	MiB      = 1 << 20
)

// bootModules are what a virtio disk with a squashfs USR needs; their
// dependencies are added by kernel.Closure.
var bootModules = []string{"virtio_pci", "virtio_blk", "squashfs", "dm_verity", "vfat", "nls_cp437", "nls_ascii"}

const espUUID = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01"

func TestStage1Boots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	for _, tool := range []string{"qemu-system-x86_64", "sgdisk", "mksquashfs", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for this test", tool)
		}
	}
	kdir := os.Getenv("IMGBUILD_TEST_KERNEL_DIR")
	if kdir == "" {
		kdir = "/tmp/dev/kernel"
	}
	k := findKernel(t, kdir)
	vmlinuz := k.VmlinuzPath
	dir := t.TempDir()

	initrd := filepath.Join(dir, "initrd")
	writeInitramfs(t, initrd, goBuild(t, dir, "github.com/imgbuild/imgbuild/initramfs/stage1"), k)
	sqfs := makeUSR(t, dir, goBuild(t, dir, "github.com/imgbuild/imgbuild/initramfs/stage1/tests/testsysinit"))
	disk := filepath.Join(dir, "disk.img")
	rec := formatVerity(t, sqfs)
	makeDisk(t, disk, sqfs, rec)

	// Enlarged before the first boot, as a user does with a cloud disk.
	const grownSize = 512 * MiB
	if err := os.Truncate(disk, grownSize); err != nil {
		t.Fatal(err)
	}
	cmdline := "console=ttyS0,115200 panic=-1 imgbuild.slot=a imgbuild.usr=PARTUUID=" + usrUUID + " imgbuild.root=PARTUUID=" + rootUUID + " imgbuild.esp=PARTUUID=" + espUUID

	out := boot(t, vmlinuz, initrd, disk, cmdline)
	expect(t, out,
		`imgbuild-stage1: started \(kernel 6\.\S+, \d+\.\d\ds since boot\)`,
		`imgbuild-stage1: loaded \d+ modules`,
		`imgbuild-stage1: USR /dev/vda3, ROOT /dev/vda9`,
		`imgbuild-stage1: ROOT: first boot: grew to \d+ MiB, formatted ext4`,
		`imgbuild-stage1: UNSIGNED image \(allowed by the manifest\)`,
		`imgbuild-stage1: USR verified by dm-verity, root hash `+rec.VerityRoot[:12]+`…, UNSIGNED release record`,
		`imgbuild-stage1: switching to USR \(slot a\) after \d+\.\d\ds`,
		`TESTSYSINIT: pid=1 boots=1 rootbytes=\d+ rootmagic=0xef53 usr=true initramfs-gone=true`)
	// ROOT was 39 MiB as built; grown it is ~423 MiB, of which statfs
	// counts all but the journal and inode tables.
	if rb := rootBytes(t, out); rb < 380*MiB || rb > grownSize {
		t.Errorf("guest sees ROOT of %d bytes, want it grown to nearly %d", rb, grownSize)
	}
	t.Logf("first boot: switch_root at %s", switchTime(out))
	if out := runTool(t, "sgdisk", "-v", disk); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v after first boot:\n%s", out)
	}
	checkRootFS(t, disk)

	out = boot(t, vmlinuz, initrd, disk, cmdline)
	expect(t, out,
		`imgbuild-stage1: ROOT: ext4 found on /dev/vda9`,
		`imgbuild-stage1: switching to USR \(slot a\)`,
		`TESTSYSINIT: pid=1 boots=2 `)
	if strings.Contains(out, "first boot") {
		t.Errorf("second boot formatted ROOT again:\n%s", out)
	}
	t.Logf("second boot: switch_root at %s", switchTime(out))

	// A missing partition fails clearly and powers off.
	bad := strings.Replace(cmdline, rootUUID, "00000000-0000-4000-8000-000000000000", 1)
	out = boot(t, vmlinuz, initrd, disk, bad)
	expect(t, out, `imgbuild-stage1: FATAL: find partitions: after 10s: no partition with PARTUUID 00000000-0000-4000-8000-000000000000`,
		`reboot: Power down`)
	if strings.Contains(out, "switching to USR") {
		t.Errorf("switched root despite the failure")
	}
}

func findKernel(t *testing.T, kdir string) *kernel.Kernel {
	t.Helper()
	vm, _ := filepath.Glob(filepath.Join(kdir, "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(kdir, "lib", "modules", "*", "kernel"))
	if len(vm) != 1 || len(mods) != 1 {
		t.Fatalf("no unpacked kernel package in %s (set IMGBUILD_TEST_KERNEL_DIR): vmlinuz %v, modules %v", kdir, vm, mods)
	}
	k, err := kernel.FromLocal(vm[0], filepath.Dir(mods[0]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func goBuild(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	st, _ := os.Stat(out)
	t.Logf("%s: %d bytes", filepath.Base(pkg), st.Size())
	return out
}

func writeInitramfs(t *testing.T, path, init string, k *kernel.Kernel) {
	t.Helper()
	initBytes, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(initBytes), 0o755),
		cpio.Directory("etc", 0o755),
		cpio.Directory("etc/imgbuild", 0o755),
		cpio.StaticFile("etc/imgbuild/allow-unsigned", "test\n", 0o644),
		cpio.Directory("lib", 0o755),
		cpio.Directory("lib/modules", 0o755),
	}
	var list strings.Builder
	mods, err := k.Closure(bootModules)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		p := m.Path
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, cpio.StaticFile("lib/modules/"+filepath.Base(p), string(b), 0o644))
		list.WriteString(filepath.Base(p) + "\n")
	}
	t.Logf("load.list:\n%s", list.String())
	recs = append(recs, cpio.StaticFile("lib/modules/load.list", list.String(), 0o644))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := cpio.Newc.Writer(f)
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
}

func makeUSR(t *testing.T, dir, sysinit string) string {
	t.Helper()
	tree := filepath.Join(dir, "usr")
	if err := os.MkdirAll(filepath.Join(tree, "lib/imgbuild"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sysinit)
	if err := os.WriteFile(filepath.Join(tree, "lib/imgbuild/sysinit"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "usr.sqfs")
	runTool(t, "mksquashfs", tree, out, "-comp", "zstd", "-noappend", "-all-root", "-quiet")
	return out
}

// formatVerity pads the squashfs to whole 4 KiB blocks and appends a
// hash tree with veritysetup (not our verity package, so that stage-1's
// dm-verity setup is checked against a tree we did not write), and
// returns the unsigned release record for it.
func formatVerity(t *testing.T, sqfs string) sign.Record {
	t.Helper()
	st, err := os.Stat(sqfs)
	if err != nil {
		t.Fatal(err)
	}
	size := (st.Size() + 4095) / 4096 * 4096
	if err := os.Truncate(sqfs, size); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "veritysetup", "format", sqfs, sqfs, "--hash-offset", strconv.FormatInt(size, 10),
		"--data-blocks", strconv.FormatInt(size/4096, 10))
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("veritysetup format printed no %s:\n%s", name, out)
		}
		return m[1]
	}
	return sign.Record{Format: sign.RecordFormat, Name: "test", Version: "1.0.0", Arch: "amd64", VerityRoot: field("Root hash"), VeritySalt: field("Salt"),
		VerityUUID: field("UUID"), HashOffset: size, DataBlocks: uint64(size / 4096)}
}

func makeDisk(t *testing.T, path, sqfs string, rec sign.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(128 * MiB)
	f.Close()
	layout := []struct{ num, size, typ, label, guid string }{
		{"1", "+34M", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI-SYSTEM", espUUID},
		{"3", "+32M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-A", usrUUID},
		{"4", "+8M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-B", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b04"},
		{"6", "+8M", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "OEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b06"},
		{"9", "0", "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ROOT", rootUUID},
	}
	args := []string{"-o", "-U", "6b1f5c2e-0d3a-4c55-9e1a-2b8f4a7c9d01"}
	for _, p := range layout {
		args = append(args, "-n", p.num+":0:"+p.size, "-t", p.num+":"+p.typ, "-c", p.num+":"+p.label, "-u", p.num+":"+p.guid)
	}
	runTool(t, "sgdisk", append(args, path)...)

	d, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tab, err := gpt.Read(d, 512)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tab.Entries() {
		if e.Number == 1 {
			size := int64(e.LastLBA-e.FirstLBA+1) * 512
			files := []fat.File{{Path: "imgbuild/a/release.json", Data: rec.Canonical()}}
			if err := fat.Write(io.NewOffsetWriter(d, int64(e.FirstLBA)*512), size, files, 0x1234, "EFI-SYSTEM", time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
		}
		if e.Number == 3 {
			b, _ := os.ReadFile(sqfs)
			if int64(len(b)) > int64(e.LastLBA-e.FirstLBA+1)*512 {
				t.Fatalf("squashfs of %d bytes does not fit USR-A", len(b))
			}
			if _, err := d.WriteAt(b, int64(e.FirstLBA)*512); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// boot runs the VM until it powers off and returns its console output.
func boot(t *testing.T, vmlinuz, initrd, disk, cmdline string) string {
	t.Helper()
	v := vmtest.Start(t, qemu.Config{Kernel: vmlinuz, Initrd: initrd, Append: cmdline, Disk: disk,
		MemoryMiB: 512, CPU: qemu.CPUPlain}, vmtest.WithVMTimeout(90*time.Second))
	err := v.WaitExit(90 * time.Second)
	out := v.Output()
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, out)
	}
	if testing.Verbose() {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "imgbuild-") || strings.Contains(l, "TESTSYSINIT") {
				t.Log(strings.TrimSpace(l))
			}
		}
	}
	return out
}

// expect checks that each pattern matches a console line, in order.
func expect(t *testing.T, out string, patterns ...string) {
	t.Helper()
	rest := out
	for _, p := range patterns {
		loc := regexp.MustCompile(p).FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("console lacks %q (in order); console:\n%s", p, out)
		}
		rest = rest[loc[1]:]
	}
}

func rootBytes(t *testing.T, out string) int64 {
	m := regexp.MustCompile(`rootbytes=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rootbytes in console")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func switchTime(out string) string {
	m := regexp.MustCompile(`switching to USR \(slot .\) after (\S+)`).FindStringSubmatch(out)
	if m == nil {
		return "?"
	}
	return m[1]
}

// checkRootFS runs e2fsck on ROOT as the guest left it.
func checkRootFS(t *testing.T, disk string) {
	t.Helper()
	d, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tab, err := gpt.Read(d, 512)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := tab.Last()
	off := int64(last.FirstLBA) * 512
	out, err := exec.Command("e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", disk, off)).CombinedOutput()
	if err != nil || strings.Contains(string(out), "?") {
		t.Errorf("e2fsck -fn ROOT after boot: %v\n%s", err, out)
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
