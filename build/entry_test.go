package build

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/manifest"
	"github.com/imgbuild/imgbuild/rootfs/updater"
	"github.com/imgbuild/imgbuild/sign"
)

// entryImage is a builder of the manifest with the given kernel
// command line, and its USR's verity parameters, as far as boot entries
// and the release record need.
type entryImage struct {
	*builder
	verity *verity.Params
}

func entryBuilder(t *testing.T, version, cmdline string, root byte) entryImage {
	t.Helper()
	src := "name: m\nversion: " + version + "\nkernel: {package: k, cmdline: " + cmdline + "}\nsecurity: {allow_unsigned: true}\n"
	m, err := manifest.Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return entryImage{&builder{m: m, stage: t.TempDir()}, &verity.Params{DataBlocks: 1, HashOffset: 4096,
		Salt: bytes.Repeat([]byte{0xee}, 32), RootHash: bytes.Repeat([]byte{root}, 32)}}
}

func (e entryImage) entry(slot string) string { return e.bootEntry(slot, e.verity) }

// testRecord runs the builder's release step over dummy artifacts and
// parses the record it wrote, as the agent would.
func (e entryImage) testRecord(t *testing.T) *sign.Record {
	t.Helper()
	dir := t.TempDir()
	in := releaseIn{boot: bootFiles{kernel: filepath.Join(dir, "kernel"), initramfs: filepath.Join(dir, "initramfs")},
		usr: usrOut{path: filepath.Join(dir, "usr"), verity: e.verity}}
	for _, p := range []string{in.boot.kernel, in.boot.initramfs, in.usr.path} {
		if err := os.WriteFile(p, []byte(filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := e.release(in)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out.record)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, out.data) {
		t.Errorf("release wrote %q but hands on %q", raw, out.data)
	}
	rec, err := sign.ParseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestUpdatedEntryIsBuiltEntry: the entry the update agent derives for a
// release in slot B, from a machine running another release in slot A
// with other kernel arguments, is the entry the builder writes for that
// release's slot B, options line included; and back again.
func TestUpdatedEntryIsBuiltEntry(t *testing.T) {
	v1 := entryBuilder(t, "1.0.0", "[loglevel=7, v1.only=1]", 0x11)
	v2 := entryBuilder(t, "2.0.0", "[release.test=v2, imgbuild.debug=shell]", 0x22)
	rec1, rec2 := v1.testRecord(t), v2.testRecord(t)
	if !strings.Contains(strings.Join(rec2.KernelArgs, " "), "release.test=v2 imgbuild.debug=shell") {
		t.Errorf("v2's record kernel_args %q lack the manifest's arguments", rec2.KernelArgs)
	}
	for _, rec := range []*sign.Record{rec1, rec2} {
		for _, a := range rec.KernelArgs {
			if k, _, _ := strings.Cut(a, "="); contract.IsSlotKey(k) {
				t.Errorf("record %s carries slot key %s", rec.Version, a)
			}
		}
	}
	got, err := updater.DeriveEntry(v1.entry("a"), "a", "b", rec2, v2.partUUID(contract.USRB))
	if err != nil {
		t.Fatal(err)
	}
	if want := v2.entry("b"); got != want {
		t.Errorf("updated to v2 in slot B:\n%s\nbuilt for v2, slot B:\n%s", got, want)
	}
	back, err := updater.DeriveEntry(got, "b", "a", rec1, v1.partUUID(contract.USRA))
	if err != nil {
		t.Fatal(err)
	}
	if want := v1.entry("a"); back != want {
		t.Errorf("back to v1 in slot A:\n%s\nbuilt for v1, slot A:\n%s", back, want)
	}
}

// TestArm64BootFiles checks what an arm64 image's ESP and entries take from
// the arch: systemd-boot's aa64 files, the ttyAMA0 console and the
// record's arch; and that the targets and Secure Boot it lacks are
// refused.
func TestArm64BootFiles(t *testing.T) {
	e := entryBuilder(t, "1.0.0", "[]", 1)
	e.m.Arch = "arm64"
	var paths []string
	for _, f := range e.bootloaderFiles([]byte("boot")) {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "EFI/BOOT/BOOTAA64.EFI EFI/systemd/systemd-bootaa64.efi" {
		t.Errorf("bootloader files %s", got)
	}
	if e.bootPath() != "/usr/lib/systemd/boot/efi/systemd-bootaa64.efi" || e.stubPath() != "/usr/lib/systemd/boot/efi/linuxaa64.efi.stub" {
		t.Errorf("package paths %s, %s", e.bootPath(), e.stubPath())
	}
	if entry := e.entry("a"); !strings.Contains(entry, "options console=ttyAMA0,115200 ") {
		t.Errorf("entry without the arm64 console:\n%s", entry)
	}
	if rec := e.testRecord(t); rec.Arch != "arm64" {
		t.Errorf("record arch %q", rec.Arch)
	}
	for _, opts := range []Options{{Target: "aws"}, {Target: "pxe"}, {Target: "qemu", SecureBootKeys: "sb"}} {
		if err := checkArchSupport(e.m, opts); err == nil || !strings.Contains(err.Error(), "arm64") {
			t.Errorf("%+v for arm64: %v", opts, err)
		}
	}
	if err := checkArchSupport(e.m, Options{Target: "qemu"}); err != nil {
		t.Error(err)
	}
}
