package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

const testPage = "<h1>imgbuild sysinit test page</h1>\n"

// TestQEMUBoot boots the kernel straight into an initramfs whose /init
// loads virtio-net, virtio-blk, vfat and the power button and execs
// sysinit, which serves a page with busybox httpd and marks the boot entry
// on a GPT disk's ESP good; then it powers the VM down through ACPI.
func TestQEMUBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	dir := t.TempDir()
	k := testKernel(t)
	initrd := filepath.Join(dir, "initrd")
	writeTestInitramfs(t, dir, k, initrd)

	disk := filepath.Join(dir, "disk.img")
	writeTestDisk(t, dir, disk)

	port := freePort(t)
	start := time.Now()
	// QEMU's default CPU has no RDRAND and this initramfs keeps no
	// random seed: the kernel's pool is not ready when sysinit starts,
	// and nothing in sysinit (DHCP included) may wait for it.
	v := vmtest.Start(t, qemu.Config{Kernel: k.VmlinuzPath, Initrd: initrd,
		Append: "console=ttyS0,115200 panic=-1 quiet imgbuild.slot=a imgbuild.esp=PARTUUID=" + testESPUUID,
		Disk:   disk, MemoryMiB: 512, CPU: qemu.CPUPlain, Forwards: []qemu.Forward{{Host: port, Guest: 8080}}},
		vmtest.WithVMTimeout(5*time.Minute))

	healthy := regexp.MustCompile(`imgbuild-sysinit: healthy \((\d+) services, ([0-9.]+)s since boot\)`)
	_, line := v.Expect(0, healthy.String(), 3*time.Minute)
	m := healthy.FindStringSubmatch(line)
	t.Logf("healthy after %s on the guest clock, %.1fs on the host", m[2], time.Since(start).Seconds())
	if m[1] != "2" {
		t.Errorf("healthy line counts %s services, want 2", m[1])
	}
	// Lines that may come before or after the healthy line (hello counts
	// once started): each is looked for on the whole console.
	for _, re := range []string{
		`imgbuild-sysinit: started sysinit-test 0\.1\.0 at [0-9.]+s since boot$`,
		// restrict=on makes QEMU's DHCP server leave out the router
		// (and DNS): "via" appears only on an unrestricted network.
		`imgbuild-sysinit: network \S+ 10\.0\.2\.15/24( via 10\.0\.2\.2)?$`,
		`\[hello\] hello as 33 on testhost$`,
		`imgbuild-sysinit: marked good loader/entries/imgbuild-a\.conf$`,
	} {
		v.Expect(0, re, 30*time.Second)
	}
	if n := strings.Count(v.Output(), "imgbuild-sysinit: healthy"); n != 1 {
		t.Errorf("%d healthy lines, want 1", n)
	}

	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if body != testPage {
		t.Errorf("GET / = %q, want %q", body, testPage)
	}
	// httpd -v logs each request on stderr: the host's one must show up
	// prefixed (from the slirp gateway address).
	v.Expect(0, `\[httpd\] \S*10\.0\.2\.2\]?:\d+: response:200`, 10*time.Second)

	// The power button, then sysinit's shutdown, then QEMU's own exit.
	from := v.Console.Len()
	if err := v.VM.Powerdown(); err != nil {
		t.Fatalf("power button: %v", err)
	}
	v.Expect(from, `imgbuild-sysinit: shutting down`, time.Minute)
	v.Expect(from, `imgbuild-sysinit: power off`, time.Minute)
	if err := v.WaitExit(time.Minute); err != nil {
		t.Errorf("qemu: %v", err)
	}
	checkTestESP(t, dir, disk)
}

const (
	testESPUUID   = "6a1f3c2e-8d4b-4e5f-9a0b-1c2d3e4f5a6b"
	testESPOffset = 1 << 20
	testESPSize   = 32 << 20
)

// writeTestDisk makes a GPT disk whose ESP holds a counted boot entry
// for slot a and an uncounted one for slot b.
func writeTestDisk(t *testing.T, dir, disk string) {
	t.Helper()
	run(t, "truncate", "-s", "40M", disk)
	run(t, "sgdisk", "-n", fmt.Sprintf("1:%d:+%d", testESPOffset/512, testESPSize/512-1), "-t", "1:EF00",
		"-u", "1:"+testESPUUID, "-c", "1:EFI-SYSTEM", disk)
	esp := filepath.Join(dir, "esp.img")
	run(t, "mkfs.fat", "-C", esp, fmt.Sprint(testESPSize/1024))
	run(t, "mmd", "-i", esp, "::/loader", "::/loader/entries")
	for _, name := range []string{"imgbuild-a+2-1.conf", "imgbuild-b.conf"} {
		src := filepath.Join(dir, name)
		os.WriteFile(src, []byte("title "+name+"\n"), 0o644)
		run(t, "mcopy", "-i", esp, src, "::/loader/entries/"+name)
	}
	fat, err := os.ReadFile(esp)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(fat, testESPOffset); err != nil {
		t.Fatal(err)
	}
}

// checkTestESP reads the ESP back: renamed entry, other slot untouched,
// file system clean.
func checkTestESP(t *testing.T, dir, disk string) {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fat := make([]byte, testESPSize)
	if _, err := f.ReadAt(fat, testESPOffset); err != nil {
		t.Fatal(err)
	}
	esp := filepath.Join(dir, "esp-after.img")
	os.WriteFile(esp, fat, 0o644)
	got := strings.Fields(run(t, "mdir", "-b", "-i", esp, "::/loader/entries"))
	sort.Strings(got)
	want := []string{"::/loader/entries/imgbuild-a.conf", "::/loader/entries/imgbuild-b.conf"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entries after boot %v, want %v", got, want)
	}
	run(t, "fsck.fat", "-n", esp)
}

// run runs a reference tool the test needs (CI installs them).
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func testKernel(t *testing.T) *kernel.Kernel {
	t.Helper()
	root := os.Getenv("IMGBUILD_TEST_KERNEL_DIR")
	if root == "" {
		root = "/tmp/dev/kernel"
	}
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(root, "lib", "modules", "*"))
	if len(images) != 1 || len(mods) != 1 {
		t.Fatalf("need an unpacked kernel .deb in IMGBUILD_TEST_KERNEL_DIR (default /tmp/dev/kernel): found images %v, module dirs %v", images, mods)
	}
	k, err := kernel.FromLocal(images[0], mods[0])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func busybox(t *testing.T, dir string) []byte {
	t.Helper()
	deb := os.Getenv("IMGBUILD_TEST_BUSYBOX_DEB")
	if deb == "" {
		debs, _ := filepath.Glob("/tmp/dev/busybox-static_*.deb")
		if len(debs) == 0 {
			t.Fatal("need busybox-static .deb: set IMGBUILD_TEST_BUSYBOX_DEB")
		}
		deb = debs[0]
	}
	x := filepath.Join(dir, "busybox-deb")
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	b, err := os.ReadFile(filepath.Join(x, "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goBuild(t *testing.T, out, pkg string) []byte {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTestInitramfs(t *testing.T, dir string, k *kernel.Kernel, path string) {
	t.Helper()
	mods, err := k.Closure([]string{"virtio_pci", "virtio_net", "virtio_blk",
		"vfat", "nls_cp437", "nls_ascii", "button", "evdev"})
	if err != nil {
		t.Fatal(err)
	}
	var in initramfs.Input
	for _, m := range mods {
		in.Modules = append(in.Modules, initramfs.Module{Name: m.Name, Path: m.Path})
	}
	in.Init = filepath.Join(dir, "modshim")
	goBuild(t, in.Init, "./testdata/modshim")
	sysinit := goBuild(t, filepath.Join(dir, "sysinit"), ".")
	t.Logf("sysinit binary (-s -w): %d bytes", len(sysinit))

	cfg := contract.Config{
		Name: "sysinit-test", Version: "0.1.0", Hostname: "testhost",
		Services: []contract.Service{
			{
				Name: "httpd", Command: "/usr/bin/busybox",
				Args: []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www"},
				User: "www", Restart: "always", BackoffMS: 500, MaxBackoffMS: 4000,
				Health: &contract.Health{HTTPURL: "http://127.0.0.1:8080/", IntervalMS: 200, TimeoutMS: 1000},
			},
			{
				Name: "hello", Command: "/usr/bin/busybox", After: []string{"httpd"}, User: "33",
				Args:    []string{"sh", "-c", `echo "hello as $(busybox id -u) on $(busybox hostname)"`},
				Restart: "on-failure",
			},
		},
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	in.Files = []initramfs.File{
		{Path: "/usr/lib/imgbuild/sysinit", Data: sysinit, Mode: 0o755},
		{Path: contract.Path, Data: js, Mode: 0o644},
		{Path: "/usr/bin/busybox", Data: busybox(t, dir), Mode: 0o755},
		{Path: "/www/index.html", Data: []byte(testPage), Mode: 0o644},
		{Path: contract.FactoryDir + "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/false\n"), Mode: 0o644},
		{Path: contract.FactoryDir + "/etc/group", Data: []byte("root:x:0:\nwww:x:33:\n"), Mode: 0o644},
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := initramfs.Write(f, in); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := qemu.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	var last error
	for range 5 {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				return string(b)
			}
			last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
		} else {
			last = err
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}
