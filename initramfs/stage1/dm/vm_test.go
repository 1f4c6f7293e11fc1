//go:build linux

package dm

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// testKernel is the Debian kernel package unpacked in
// IMGBUILD_TEST_KERNEL_DIR (boot/vmlinuz-* and lib/modules/*/).
func testKernel(t *testing.T) *kernel.Kernel {
	dir := os.Getenv("IMGBUILD_TEST_KERNEL_DIR")
	if dir == "" {
		dir = "/tmp/dev/kernel"
	}
	k, _ := filepath.Glob(filepath.Join(dir, "boot/vmlinuz-*"))
	m, _ := filepath.Glob(filepath.Join(dir, "lib/modules/*/kernel"))
	if len(k) != 1 || len(m) != 1 {
		t.Fatalf("no unpacked kernel in %s (want boot/vmlinuz-* and lib/modules/*/kernel); set IMGBUILD_TEST_KERNEL_DIR", dir)
	}
	kern, err := kernel.FromLocal(k[0], filepath.Dir(m[0]))
	if err != nil {
		t.Fatal(err)
	}
	return kern
}

func buildInitramfs(t *testing.T, dir string, k *kernel.Kernel, p *verity.Params) string {
	init := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-trimpath", "-o", init, "./testdata/vminit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build vminit: %v\n%s", err, out)
	}
	initBin, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(p)
	recs := []cpio.Record{
		cpio.StaticFile("init", string(initBin), 0o755),
		cpio.StaticFile("params.json", string(params), 0o644),
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
	}
	var list []string
	// The closure every image's initramfs is built with.
	mods, err := k.Closure([]string{"virtio_pci", "virtio_blk", "dm_verity"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		ko := m.Path
		b, err := os.ReadFile(ko)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, cpio.StaticFile("lib/modules/"+filepath.Base(ko), string(b), 0o644))
		list = append(list, filepath.Base(ko))
	}
	recs = append(recs, cpio.StaticFile("lib/modules/load.list", strings.Join(list, "\n")+"\n", 0o644))
	t.Logf("modules: %s", strings.Join(list, " "))

	var buf bytes.Buffer
	w := cpio.NewDedupWriter(cpio.Newc.Writer(&buf))
	for i := range recs {
		recs[i] = cpio.MakeReproducible(recs[i])
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "initrd")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bootVM boots the kernel with the initramfs and disk, returns the console.
func bootVM(t *testing.T, vmlinuz, initrd, disk string) string {
	v := vmtest.Start(t, qemu.Config{Kernel: vmlinuz, Initrd: initrd, Append: "console=ttyS0 panic=-1", Disk: disk,
		MemoryMiB: 512, CPU: qemu.CPUPlain}, vmtest.WithVMTimeout(3*time.Minute))
	if err := v.WaitExit(3 * time.Minute); err != nil {
		t.Fatalf("qemu: %v\n%s", err, v.Output())
	}
	return v.Output()
}

func TestCreateVerityInVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("qemu-system-x86_64 is needed for this test: %v", err)
	}
	k := testKernel(t)
	vmlinuz := k.VmlinuzPath
	const blocks = 777 // seven bottom hash blocks under one top block
	const badBlock = 300
	dir := t.TempDir()

	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, blocks*verity.BlockSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	good := filepath.Join(dir, "good.img")
	if err := os.WriteFile(good, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(good, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := verity.Build(f, int64(len(data)), f, int64(len(data)), []byte("vm-test-salt"), "c0ffee00-0000-4000-8000-000000000001", 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	initrd := buildInitramfs(t, dir, k, p)
	wantSum := fmt.Sprintf("%x", sha256.Sum256(data))

	t.Run("good", func(t *testing.T) {
		out := bootVM(t, vmlinuz, initrd, good)
		want := fmt.Sprintf("VMTEST: read %d blocks, 0 bad, sha256 %s", blocks, wantSum)
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, vmLines(out))
		}
	})
	t.Run("flipped data byte", func(t *testing.T) {
		img, _ := os.ReadFile(good)
		img[badBlock*verity.BlockSize+123] ^= 0x01
		bad := filepath.Join(dir, "bad.img")
		if err := os.WriteFile(bad, img, 0o644); err != nil {
			t.Fatal(err)
		}
		out := bootVM(t, vmlinuz, initrd, bad)
		t.Logf("console:\n%s", vmLines(out))
		for _, want := range []string{
			fmt.Sprintf(`VMTEST: block %d: input/output error`, badBlock),
			fmt.Sprintf(`VMTEST: read %d blocks, 1 bad, `, blocks),
			fmt.Sprintf(`device-mapper: verity: \d+:\d+: data block %d is corrupted`, badBlock),
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("console lacks %q:\n%s", want, vmLines(out))
			}
		}
	})
}

// vmLines keeps the console lines worth showing on failure.
func vmLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "VMTEST") || strings.Contains(l, "device-mapper") || strings.Contains(l, "Kernel panic") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return out
	}
	return strings.Join(keep, "\n")
}
