package qemutests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu"
)

// relayEnv makes this test binary, run by QEMU for each connection a
// guest opens to a cmd: guestfwd, copy the connection (its stdin and
// stdout) to and from the address in it: QEMU's tcp: guestfwd form
// connects once and serves a single connection.
const relayEnv = "IMGBUILD_TEST_RELAY"

func init() {
	addr := os.Getenv(relayEnv)
	if addr == "" {
		return
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	os.Exit(0)
}

// guestHTTP is where the guest reaches the test's HTTP server.
const guestHTTP = "10.0.2.100"

// relayFwd is a guestfwd rule sending guestHTTP:80 to addr on the host.
func relayFwd(t *testing.T, addr string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("tcp:%s:80-cmd:env %s=%s %s", guestHTTP, relayEnv, addr, exe)
}

var pxeBuild struct {
	once sync.Once
	res  *build.Result
	err  error
}

// buildPXE builds minimal with --target pxe once per test binary.
func buildPXE(t *testing.T) *build.Result {
	t.Helper()
	pxeBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "imgbuild-qemutest-pxe-")
		if err != nil {
			pxeBuild.err = err
			return
		}
		mf := manifestCopy(t, "minimal", dir)
		start := time.Now()
		pxeBuild.res, pxeBuild.err = build.Run(context.Background(), build.Options{Manifest: mf, OutDir: filepath.Join(dir, "out"), Target: "pxe"})
		fmt.Fprintf(os.Stderr, "built minimal --target pxe in %.1fs\n", time.Since(start).Seconds())
	})
	if pxeBuild.err != nil {
		t.Fatalf("build --target pxe: %v", pxeBuild.err)
	}
	return pxeBuild.res
}

// pxeRoot is a directory a TFTP or HTTP server serves: the build's
// kernel and PXE initramfs, and its iPXE script with args added to the
// kernel's command line (as a user edits it for a machine).
func pxeRoot(t *testing.T, res *build.Result, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, kind := range []string{"kernel", "pxe-initrd"} {
		src := artifact(t, res, kind)
		if err := os.Symlink(src, filepath.Join(dir, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile(artifact(t, res, "ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	if len(args) > 0 {
		key := contract.KeyPXE + "=1"
		if !strings.Contains(s, key) {
			t.Fatalf("iPXE script has no %s:\n%s", key, s)
		}
		s = strings.Replace(s, key, key+" "+strings.Join(args, " "), 1)
	}
	writeTo(t, filepath.Join(dir, filepath.Base(artifact(t, res, "ipxe"))), s)
	return dir
}

func writeTo(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpServer serves dir on 127.0.0.1 and records the paths asked for.
type httpServer struct {
	addr string
	mu   sync.Mutex
	got  []string
}

func serveHTTP(t *testing.T, dir string) *httpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httpServer{addr: l.Addr().String()}
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.URL.Path)
		s.mu.Unlock()
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *httpServer) served() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.got, " ")
}

// pxeMachine is a diskless machine: no disk, network boot first, the
// NIC's iPXE ROM; bios picks SeaBIOS over OVMF.
func pxeMachine(t *testing.T, bios bool, mem int) qemu.Config {
	cfg := qemu.Config{NetBoot: true, BIOS: bios, MemoryMiB: mem}
	if !bios {
		cfg.Vars = filepath.Join(t.TempDir(), "vars.fd")
	}
	return cfg
}

// checkDiskless checks a diskless boot's console and state from its shell.
// It logs the time from QEMU's start to healthy services (under TCG).
func checkDiskless(t *testing.T, v *vm, what string) {
	t.Helper()
	t0 := time.Now()
	v.expect(0, `imgbuild-stage1: diskless: USR from the initramfs`, 5*time.Minute)
	_, line := v.expect(0, `imgbuild-sysinit: healthy`, 3*time.Minute)
	t.Logf("%s: healthy %.1fs after QEMU started (%s)", what, time.Since(t0).Seconds(), strings.TrimSpace(line))
	v.expect(0, `imgbuild-sysinit: nothing to mark: diskless boot`, time.Minute)
	if got := v.run("busybox awk '$2==\"/\"||$2==\"/usr\"{print $2\"=\"$3}' /proc/mounts | busybox tr '\\n' ' '", time.Minute); got != "/=tmpfs /usr=squashfs" {
		t.Errorf("mounts: %q, want / on tmpfs and /usr on squashfs", got)
	}
	if got := v.run("ls /sys/block | busybox grep -v -e loop -e dm- | busybox wc -l", time.Minute); got != "0" {
		t.Errorf("block devices besides loop and dm: %s", got)
	}
}

// TestPXEDisklessTFTP boots minimal diskless as bare metal does: no
// disk, the NIC's iPXE ROM fetches our script, kernel and initramfs from
// QEMU's TFTP server, under legacy BIOS (SeaBIOS) and UEFI (OVMF).
func TestPXEDisklessTFTP(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	for _, fw := range []struct {
		name string
		bios bool
	}{{"SeaBIOS", true}, {"OVMF", false}} {
		t.Run(fw.name, func(t *testing.T) {
			cfg := pxeMachine(t, fw.bios, 256)
			cfg.TFTPDir = pxeRoot(t, res)
			cfg.BootFile = filepath.Base(artifact(t, res, "ipxe"))
			checkDiskless(t, start(t, cfg), fw.name+" TFTP")
		})
	}
}

// TestPXEDisklessHTTP boots diskless with everything over HTTP from the
// test's server (DHCP's boot file is the script's URL; no TFTP), under
// UEFI, with the per-machine config from ignition.config.url=.
func TestPXEDisklessHTTP(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	base := "http://" + guestHTTP + "/"
	dir := pxeRoot(t, res, contract.IgnitionURLKey+"="+base+"machine-pxe.ign")
	cfgFile := machineConfig(t, "machine-pxe")
	if err := os.Symlink(cfgFile, filepath.Join(dir, "machine-pxe.ign")); err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, dir)
	cfg := pxeMachine(t, false, 256)
	cfg.BootFile = base + filepath.Base(artifact(t, res, "ipxe"))
	cfg.GuestFwds = []string{relayFwd(t, srv.addr)}
	v := start(t, cfg)
	checkDiskless(t, v, "OVMF HTTP")
	checkMachine(t, v, "machine-pxe")
	got := srv.served()
	for _, kind := range []string{"ipxe", "kernel", "pxe-initrd"} {
		if p := "/" + filepath.Base(artifact(t, res, kind)); !strings.Contains(got, p) {
			t.Errorf("HTTP server was not asked for %s (asked: %s)", p, got)
		}
	}
	if !strings.Contains(got, "/machine-pxe.ign") {
		t.Errorf("the config was not fetched over HTTP (asked: %s)", got)
	}
}
