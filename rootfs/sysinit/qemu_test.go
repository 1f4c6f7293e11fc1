package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/imageconfig"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/kernel"
)

const testPage = "<h1>imgbuild sysinit test page</h1>\n"

// TestQEMUBoot boots the kernel straight into an initramfs whose /init
// loads virtio-net and the power button and execs sysinit, which serves
// a page with busybox httpd; then it powers the VM down through ACPI.
func TestQEMUBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	dir := t.TempDir()
	k := testKernel(t)
	initrd := filepath.Join(dir, "initrd")
	writeTestInitramfs(t, dir, k, initrd)

	port := freePort(t)
	mon := filepath.Join(dir, "monitor.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64",
		// -cpu max gives TCG an RDRAND, so the kernel CRNG is ready at once
		// (crypto/rand, used by the DHCP client, blocks until it is).
		"-machine", "q35", "-cpu", "max", "-m", "512", "-smp", "1",
		"-display", "none", "-no-reboot", "-serial", "stdio",
		"-monitor", "unix:"+mon+",server,nowait",
		"-kernel", k.VmlinuzPath, "-initrd", initrd,
		"-append", "console=ttyS0,115200 panic=-1 quiet imgbuild.slot=a",
		"-nic", fmt.Sprintf("user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:%d-:8080", port))
	console := &lockedBuffer{}
	qemu.Stdout, qemu.Stderr = console, console
	start := time.Now()
	if err := qemu.Start(); err != nil {
		t.Fatalf("qemu-system-x86_64 is required for this test: %v", err)
	}
	// exited is closed when QEMU ends (waitErr set), so that any number
	// of waiters see it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = qemu.Wait(); close(exited) }()
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", console.String())
		}
	}()

	healthy := console.waitFor(t, regexp.MustCompile(`imgbuild-sysinit: healthy \((\d+) services, ([0-9.]+)s since boot\)`), 3*time.Minute, exited)
	t.Logf("healthy after %s on the guest clock, %.1fs on the host", healthy[2], time.Since(start).Seconds())
	if healthy[1] != "2" {
		t.Errorf("healthy line counts %s services, want 2", healthy[1])
	}
	out := console.String()
	for _, re := range []string{
		`imgbuild-sysinit: started sysinit-test 0\.1\.0\r?\n`,
		// restrict=on makes QEMU's DHCP server leave out the router
		// (and DNS): "via" appears only on an unrestricted network.
		`imgbuild-sysinit: network \S+ 10\.0\.2\.15/24( via 10\.0\.2\.2)?\r?\n`,
		`\[hello\] hello as 33 on testhost\r?\n`,
		`imgbuild-sysinit: nothing to mark`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("console lacks %s", re)
		}
	}
	if n := strings.Count(out, "imgbuild-sysinit: healthy"); n != 1 {
		t.Errorf("%d healthy lines, want 1", n)
	}

	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if body != testPage {
		t.Errorf("GET / = %q, want %q", body, testPage)
	}
	// httpd -v logs each request on stderr: the host's one must show up
	// prefixed (from the slirp gateway address).
	console.waitFor(t, regexp.MustCompile(`\[httpd\] \S*10\.0\.2\.2\]?:\d+: response:200`), 10*time.Second, exited)

	c, err := net.Dial("unix", mon)
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "system_powerdown\n"); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	console.waitFor(t, regexp.MustCompile(`imgbuild-sysinit: shutting down`), time.Minute, exited)
	console.waitFor(t, regexp.MustCompile(`imgbuild-sysinit: power off`), time.Minute, exited)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("qemu: %v", waitErr)
		}
	case <-time.After(time.Minute):
		t.Fatal("qemu did not exit after power off")
	}
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
	mods, err := k.Closure([]string{"virtio_pci", "virtio_net", "button", "evdev"})
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

	cfg := imageconfig.Config{
		Name: "sysinit-test", Version: "0.1.0", Hostname: "testhost",
		Services: []imageconfig.Service{
			{
				Name: "httpd", Command: "/usr/bin/busybox",
				Args: []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www"},
				User: "www", Restart: "always", BackoffMS: 500, MaxBackoffMS: 4000,
				Health: &imageconfig.Health{HTTPURL: "http://127.0.0.1:8080/", IntervalMS: 200, TimeoutMS: 1000},
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
		{Path: imageconfig.Path, Data: js, Mode: 0o644},
		{Path: "/usr/bin/busybox", Data: busybox(t, dir), Mode: 0o755},
		{Path: "/www/index.html", Data: []byte(testPage), Mode: 0o644},
		{Path: imageconfig.FactoryDir + "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/false\n"), Mode: 0o644},
		{Path: imageconfig.FactoryDir + "/etc/group", Data: []byte("root:x:0:\nwww:x:33:\n"), Mode: 0o644},
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

// lockedBuffer collects the serial console.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls the console until re matches, the VM exits or d passes.
func (l *lockedBuffer) waitFor(t *testing.T, re *regexp.Regexp, d time.Duration, exited <-chan struct{}) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m
		}
		select {
		case <-exited:
			if m := re.FindStringSubmatch(l.String()); m != nil {
				return m
			}
			t.Fatalf("VM exited before %s", re)
		case <-deadline:
			t.Fatalf("no %s within %v", re, d)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
