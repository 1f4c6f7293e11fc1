package disk

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/reftool"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

const bootMarker = "imgbuild-disk-test: init reached"

// testKernel is the kernel the boot test starts: $IMGBUILD_TEST_KERNEL,
// else the dev kernel unpacked on the build host.
func testKernel(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("IMGBUILD_TEST_KERNEL"); k != "" {
		return k
	}
	m, _ := filepath.Glob("/tmp/dev/kernel/boot/vmlinuz-*")
	if len(m) == 0 {
		t.Fatal("no test kernel: set IMGBUILD_TEST_KERNEL to a bzImage with serial (8250) built in")
	}
	return m[0]
}

// testSystemdBoot is systemd-boot's EFI binary: $IMGBUILD_TEST_SYSTEMD_BOOT
// or the host's.
func testSystemdBoot() string {
	if p := os.Getenv("IMGBUILD_TEST_SYSTEMD_BOOT"); p != "" {
		return p
	}
	return "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
}

// buildInitramfs builds testdata/bootinit static and packs it as /init
// in a newc cpio with /dev/console, so its output reaches the console.
func buildInitramfs(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "init")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/bootinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build init: %v\n%s", err, out)
	}
	initData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	ino := 1
	add := func(name string, mode, rdevMajor, rdevMinor int, data []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
		ino++
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	add("dev", 0o040755, 0, 0, nil)
	add("dev/console", 0o020600, 5, 1, nil)
	add("init", 0o100755, 0, 0, initData)
	add("TRAILER!!!", 0, 0, 0, nil)
	return b.Bytes()
}

func fileFromPath(t *testing.T, espPath, src string) fat.File {
	t.Helper()
	st, err := os.Stat(src)
	if err != nil {
		t.Fatalf("boot test input: %v", err)
	}
	return fat.File{Path: espPath, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(src) }}
}

// TestBootWithSystemdBoot has the real readers judge our disk: OVMF finds
// the ESP through the GPT and loads systemd-boot from it, systemd-boot
// reads loader.conf and the entry, loads kernel and initrd, and renames
// the entry to count the try down, writing to our FAT.
func TestBootWithSystemdBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM (~10 s under TCG)")
	}
	kernel, sdboot := testKernel(t), testSystemdBoot()
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrd, buildInitramfs(t), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []fat.File{
		fileFromPath(t, "EFI/BOOT/BOOTX64.EFI", sdboot),
		fileFromPath(t, "EFI/systemd/systemd-bootx64.efi", sdboot),
		{Path: "loader/loader.conf", Data: []byte("timeout 0\neditor no\n")},
		{Path: "loader/entries/test+3.conf", Data: []byte("title disk test\nlinux /test/vmlinuz\ninitrd /test/initrd\noptions console=ttyS0,115200 panic=-1\n")},
		fileFromPath(t, "test/vmlinuz", kernel),
		fileFromPath(t, "test/initrd", initrd),
	}
	const espSize = 64 * MiB // a size go-diskfs gets wrong
	img := filepath.Join(dir, "disk.img")
	l := Layout{
		DiskGUID: GUID("boot-test", "disk"),
		Partitions: []Partition{{
			Number: 1, Label: "EFI-SYSTEM", TypeGUID: TypeESP, GUID: GUID("boot-test", "EFI-SYSTEM"), Size: espSize,
			Content: func(w io.WriterAt) error { return fat.Write(w, espSize, files, 0x0b007e57, "EFI-SYSTEM", testEpoch) },
		}},
	}
	if err := Write(img, l); err != nil {
		t.Fatal(err)
	}

	// The VM's variable store is made from OVMF's template (CI must
	// install ovmf).
	v := vmtest.Start(t, qemu.Config{Disk: img, Vars: filepath.Join(dir, "OVMF_VARS.fd"), MemoryMiB: 512, CPU: qemu.CPUPlain},
		vmtest.WithVMTimeout(3*time.Minute))
	err := v.WaitExit(3 * time.Minute)
	if console := v.Output(); err != nil || !strings.Contains(console, bootMarker) {
		t.Fatalf("VM: %v; marker %q not on the console:\n%s", err, bootMarker, vmtest.Tail(console, 4000))
	}

	got, err := esp.ReadFiles(img, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["loader/entries/test+2-1.conf"]; !ok {
		var names []string
		for p := range got {
			names = append(names, p)
		}
		t.Errorf("systemd-boot did not rename the entry to test+2-1.conf; ESP holds %v", names)
	}
	if _, ok := got["loader/entries/test+3.conf"]; ok {
		t.Error("test+3.conf still on the ESP after boot")
	}
	// The firmware's FAT driver wrote to our file system; it must still
	// be consistent.
	if out, err := reftool.Run(t, "fsck.fat", "-n", reftool.Extract(t, img, MiB, espSize)); err != nil {
		t.Errorf("fsck.fat -n after the firmware's writes: %v\n%s", err, out)
	}
}
