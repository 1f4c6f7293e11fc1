package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/contract"
	pkguki "github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/internal/reftool"
	"github.com/imgbuild/imgbuild/internal/sparse"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign/secureboot"
	"github.com/u-root/u-root/pkg/cpio"
)

// guestHTTP is where the guest reaches the test's HTTP server.
const guestHTTP = "10.0.2.100"

// relayFwd is a guestfwd rule sending guestHTTP:80 to addr on the host.
func relayFwd(t *testing.T, addr string) string {
	t.Helper()
	fwd, err := qemu.RelayFwd(guestHTTP+":80", addr)
	if err != nil {
		t.Fatal(err)
	}
	return fwd
}

var pxeBuild struct {
	once sync.Once
	res  *output.Result
	err  error
}

// buildPXE builds minimal with --target pxe once per test binary.
func buildPXE(t *testing.T) *output.Result {
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
func pxeRoot(t *testing.T, res *output.Result, args ...string) string {
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
func checkDiskless(t *testing.T, v *vm, what string, t0 time.Time) {
	t.Helper()
	v.Expect(0, `imgbuild-stage1: diskless: USR from the initramfs`, 5*time.Minute)
	line := v.ExpectHealthy(3 * time.Minute).Line
	t.Logf("%s: healthy %.1fs after QEMU started (%s)", what, time.Since(t0).Seconds(), strings.TrimSpace(line))
	v.Expect(0, `imgbuild-sysinit: nothing to mark: diskless boot`, time.Minute)
	if got := v.Run("busybox awk '$2==\"/\"||$2==\"/usr\"{print $2\"=\"$3}' /proc/mounts | busybox tr '\\n' ' '", time.Minute); got != "/=tmpfs /usr=squashfs" {
		t.Errorf("mounts: %q, want / on tmpfs and /usr on squashfs", got)
	}
	if got := v.Run("ls /sys/block | busybox grep -v -e loop -e dm- | busybox wc -l", time.Minute); got != "0" {
		t.Errorf("block devices besides loop and dm: %s", got)
	}
}

// TestPXEDisklessTFTP boots minimal diskless as bare metal does: no
// disk, the NIC's iPXE ROM fetches our script, kernel and initramfs from
// QEMU's TFTP server, under legacy BIOS (SeaBIOS) and UEFI (OVMF), in
// little RAM.
func TestPXEDisklessTFTP(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	for _, fw := range []struct {
		name string
		bios bool
		mem  int // MiB: a little above the smallest that boots (docs/targets.md)
	}{{"SeaBIOS", true, 128}, {"OVMF", false, 192}} {
		t.Run(fw.name, func(t *testing.T) {
			cfg := pxeMachine(t, fw.bios, fw.mem)
			cfg.TFTPDir = pxeRoot(t, res)
			cfg.BootFile = filepath.Base(artifact(t, res, "ipxe"))
			checkDiskless(t, vmtest.Start(t, cfg), fw.name+" TFTP", time.Now())
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
	_, pub := sshKeygen(t, t.TempDir(), "machine-pxe")
	cfgFile := machineConfig(t, "machine-pxe", pub)
	if err := os.Symlink(cfgFile, filepath.Join(dir, "machine-pxe.ign")); err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, dir)
	cfg := pxeMachine(t, false, 256)
	cfg.BootFile = base + filepath.Base(artifact(t, res, "ipxe"))
	cfg.GuestFwds = []string{relayFwd(t, srv.addr)}
	t0 := time.Now()
	v := vmtest.Start(t, cfg)
	checkDiskless(t, v, "OVMF HTTP", t0)
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

// installBoot boots diskless over HTTP with the installer pointed at a
// blank disk and image (a file name in the served directory).
func installBoot(t *testing.T, res *output.Result, image string) (*vm, string, string) {
	t.Helper()
	base := "http://" + guestHTTP + "/"
	dir := pxeRoot(t, res, contract.IgnitionURLKey+"="+base+"machine-inst.ign",
		contract.KeyInstall+"=/dev/vda", contract.KeyInstallURL+"="+base+filepath.Base(image))
	_, pub := sshKeygen(t, t.TempDir(), "machine-inst")
	for _, f := range []string{machineConfig(t, "machine-inst", pub), image} {
		if err := os.Symlink(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	srv := serveHTTP(t, dir)
	blank := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(blank, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blank, 512<<20); err != nil {
		t.Fatal(err)
	}
	cfg := pxeMachine(t, false, 256)
	cfg.Disk = blank
	cfg.BootFile = base + filepath.Base(artifact(t, res, "ipxe"))
	cfg.GuestFwds = []string{relayFwd(t, srv.addr)}
	return vmtest.Start(t, cfg), blank, cfg.Vars
}

// TestPXEInstall boots diskless with imgbuild.install=/dev/vda: the
// installer writes the image from the test's HTTP server to a blank
// disk, checks its sha256 against the signed description, puts the
// machine's config on the OEM partition and reboots; the disk then boots
// (UEFI, no network boot) to healthy with the same config.
func TestPXEInstall(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	v, blank, vars := installBoot(t, res, artifact(t, res, "disk"))
	t0 := time.Now()
	v.Expect(0, `imgbuild-sysinit: install: /dev/vda written and its sha256 checked`, 8*time.Minute)
	v.Expect(0, `imgbuild-sysinit: install: per-machine config sha256:\w+ put on the OEM partition`, time.Minute)
	v.Expect(0, `imgbuild-sysinit: install: rebooting into /dev/vda`, time.Minute)
	v.WaitExit(time.Minute)
	t.Logf("installed and rebooting %.1fs after QEMU started", time.Since(t0).Seconds())

	t1 := time.Now()
	d := vmtest.Start(t, qemu.Config{Disk: blank, Vars: vars, MemoryMiB: 256})
	d.Expect(0, `imgbuild-stage1: USR /dev/vda3`, 3*time.Minute)
	d.Expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ from OEM partition config.ign applied`, 3*time.Minute)
	checkMachine(t, d, "machine-inst")
	d.Expect(0, `imgbuild-sysinit: marked good `, time.Minute)
	t.Logf("installed disk healthy %.1fs after QEMU started", time.Since(t1).Seconds())
	d.Powerdown()
}

// TestPXEInstallRefusesOtherImage serves an image with one byte changed:
// the installer must stop before the reboot and leave no partition
// table on the disk.
func TestPXEInstallRefusesOtherImage(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	data, err := os.ReadFile(artifact(t, res, "disk"))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "other.img")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	v, blank, _ := installBoot(t, res, bad)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	_, line, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`imgbuild-sysinit: FATAL.*`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "does not match its signed description") {
		t.Errorf("FATAL line %q: want the image mismatch", line)
	}
	if consoleHas(v, `install: rebooting`) {
		t.Error("the installer rebooted after a mismatch")
	}
	v.WaitExit(time.Minute)
	disk, err := os.ReadFile(blank)
	if err != nil {
		t.Fatal(err)
	}
	if !sparse.IsZero(disk[:1<<20]) {
		t.Error("the refused image's partition table area was written")
	}
	// A GPT header is at LBA 1 or, as the backup, in the last sector of
	// the image or of the disk.
	for _, lba := range []int{1, len(data)/512 - 1, len(disk)/512 - 1} {
		if bytes.HasPrefix(disk[lba*512:], []byte("EFI PART")) {
			t.Errorf("a GPT header at LBA %d after a refused image", lba)
		}
	}
	if !bytes.HasPrefix(data[len(data)-512:], []byte("EFI PART")) {
		t.Error("the image has no backup GPT header in its last sector: the check above checks nothing")
	}
}

// ukiMachine boots NAME.pxe.efi as firmware without iPXE does: the NIC
// has no option ROM, so OVMF's own PXE client fetches the UKI from TFTP
// and runs it. bootindex puts the NIC first in the firmware's boot
// order even when the VARS store already lists other options (a disk
// booted there before, as when Secure Boot keys were enrolled).
func ukiMachine(t *testing.T, uki, vars string, secure bool) qemu.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(uki, filepath.Join(dir, filepath.Base(uki))); err != nil {
		t.Fatal(err)
	}
	cfg := qemu.Config{NetBoot: true, MemoryMiB: 256, Vars: vars, TFTPDir: dir, BootFile: filepath.Base(uki),
		Extra: []string{"-global", "virtio-net-pci.romfile=", "-global", "virtio-net-pci.bootindex=0"}}
	if secure {
		cfg.Code, cfg.SecureBoot = ovmfSecbootCode, true
	}
	return cfg
}

// TestPXEUKIWithoutIPXE boots the unsigned build's NAME.pxe.efi through
// OVMF's own PXE client.
func TestPXEUKIWithoutIPXE(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	t0 := time.Now()
	v := vmtest.Start(t, ukiMachine(t, artifact(t, res, "pxe-efi"), filepath.Join(t.TempDir(), "vars.fd"), false))
	checkDiskless(t, v, "OVMF PXE, UKI over TFTP", t0)
}

// TestPXEUKISecureBoot: a machine whose firmware trusts our db key (the
// keys enrolled by booting the same build's disk once in setup mode)
// boots the signed PXE UKI over the network with Secure Boot on, and
// refuses a copy whose command line was changed on the way.
func TestPXEUKISecureBoot(t *testing.T) {
	skipShort(t)
	res := buildSignedVariant(t, "pxe-secureboot", func(dir string, o *build.Options) error {
		o.Target = "pxe"
		o.SecureBootKeys = filepath.Join(dir, "sbkeys")
		if err := os.MkdirAll(o.SecureBootKeys, 0o700); err != nil {
			return err
		}
		_, err := secureboot.Generate(o.SecureBootKeys, "imgbuild qemu-test", secureboot.DefaultBits, time.Now())
		return err
	}).res
	vars := copyVars(t, qemu.OVMFVars)
	// Enrolled with no NIC, so the store holds no network boot option
	// of the iPXE ROM's making that the ROM-less PXE machine would lack.
	enroll := vmtest.Start(t, qemu.Config{Disk: diskCopy(t, res), Code: ovmfSecbootCode, Vars: vars, SecureBoot: true, NoNetwork: true, MemoryMiB: 512})
	enroll.Expect(0, `Enrolling secure boot keys`, 90*time.Second)
	enroll.WaitExit(90 * time.Second)

	uki := artifact(t, res, "pxe-efi")
	t0 := time.Now()
	v := vmtest.Start(t, ukiMachine(t, uki, copyVars(t, vars), true))
	v.Expect(0, `imgbuild-stage1: Secure Boot enabled`, 3*time.Minute)
	v.Expect(0, `imgbuild-stage1: USR verified by dm-verity, root hash \S+, signed by key`, time.Minute)
	checkDiskless(t, v, "Secure Boot PXE UKI", t0)

	data, err := os.ReadFile(uki)
	if err != nil {
		t.Fatal(err)
	}
	off, err := pkguki.SectionOffset(data, ".cmdline")
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := pkguki.SectionData(data, ".cmdline")
	i := bytes.Index(cmd, []byte("panic=10"))
	if i < 0 {
		t.Fatalf(".cmdline %q has no panic=10 to edit", cmd)
	}
	data[off+int64(i)+7] = '9'
	bad := filepath.Join(t.TempDir(), filepath.Base(uki))
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := vmtest.Start(t, ukiMachine(t, bad, copyVars(t, vars), true))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, line, err := r.Console.Expect(ctx, 0, regexp.MustCompile(`Access Denied|Security Violation`), kernelStarted)
	if err != nil {
		t.Fatalf("want the firmware to refuse the edited PXE UKI: %v", err)
	}
	t.Logf("refused: %q", line)
}

// TestPXETooBigForRAM: a manifest whose run.memory cannot hold its PXE
// initramfs twice (while the kernel unpacks it) fails the build with a
// clear error and leaves nothing in the output directory.
func TestPXETooBigForRAM(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	mf := manifestCopy(t, "minimal", dir)
	src, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(src), "memory: 512MiB", "memory: 64MiB", 1)
	if small == string(src) {
		t.Fatal("manifests/minimal.yaml no longer sets memory: 512MiB; update this test")
	}
	writeTo(t, mf, small)
	out := filepath.Join(dir, "out")
	code, _, stderr := imgbuild(t, "build", "-q", "-f", mf, "--target", "pxe", "-o", out)
	if code == 0 {
		t.Fatal("build succeeded")
	}
	if !strings.Contains(stderr, "the PXE initramfs is") || !strings.Contains(stderr, "run.memory (64 MiB)") {
		t.Errorf("stderr:\n%s\nwant the PXE initramfs size against run.memory", stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("output directory holds %d files after a failed build", len(entries))
	}
}

// TestPXEStage1Refuses boots the signed PXE build directly (no
// firmware: only stage-1 is under test) with what an attacker on the
// network could do to the initramfs short of replacing it: a later cpio
// archive overriding the release record (the kernel unpacks archives in
// order, so the last copy of a file wins), and a command line naming
// another root hash. Each must stop the boot.
func TestPXEStage1Refuses(t *testing.T) {
	skipShort(t)
	res := buildSignedVariant(t, "pxe-secureboot", func(dir string, o *build.Options) error {
		o.Target = "pxe"
		o.SecureBootKeys = filepath.Join(dir, "sbkeys")
		if err := os.MkdirAll(o.SecureBootKeys, 0o700); err != nil {
			return err
		}
		_, err := secureboot.Generate(o.SecureBootKeys, "imgbuild qemu-test", secureboot.DefaultBits, time.Now())
		return err
	}).res
	script, err := os.ReadFile(artifact(t, res, "ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	_, cmdline, _ := strings.Cut(regexp.MustCompile(`(?m)^kernel (.*)$`).FindStringSubmatch(string(script))[1], " ")
	record, err := os.ReadFile(artifact(t, res, "release"))
	if err != nil {
		t.Fatal(err)
	}
	initrd := artifact(t, res, "pxe-initrd")
	other := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, initrd, cmdline, want string
	}{
		{"record overridden", withArchive(t, initrd, contract.PXERecordFile, bytes.Replace(record, []byte(`"1.0.0"`), []byte(`"1.0.1"`), 1)),
			cmdline, `imgbuild-stage1: FATAL: verify USR: /release.sig: sign: signature does not match`},
		{"other root hash", initrd, regexp.MustCompile(`imgbuild\.verity=\S+`).ReplaceAllString(cmdline, "imgbuild.verity="+other),
			`imgbuild-stage1: FATAL: verify USR: imgbuild.verity=` + other + ` on the kernel command line differs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vmtest.Start(t, qemu.Config{Kernel: artifact(t, res, "kernel"), Initrd: tc.initrd, Append: tc.cmdline, MemoryMiB: 256, NoNetwork: true})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if _, _, err := v.Console.Expect(ctx, 0, regexp.MustCompile(regexp.QuoteMeta(tc.want)), regexp.MustCompile(`imgbuild-sysinit: `)); err != nil {
				t.Fatalf("want %q: %v", tc.want, err)
			}
		})
	}
}

// withArchive is initrd followed by one more cpio archive holding path.
func withArchive(t *testing.T, initrd, path string, data []byte) string {
	t.Helper()
	b, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(b)
	w := cpio.Newc.Writer(&buf)
	if err := w.WriteRecord(cpio.StaticRecord(data, cpio.Info{Name: strings.TrimPrefix(path, "/"), Mode: cpio.S_IFREG | 0o444, Ino: 1 << 21, NLink: 1})); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(initrd))
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPXELocalRoot boots one diskless machine twice with
// imgbuild.pxe.root=/dev/vda and a blank disk: the first boot partitions
// and formats it and keeps ROOT there; the second finds it, with the
// first boot's SSH host key and a file written then. The disk is then
// checked with sgdisk and e2fsck.
func TestPXELocalRoot(t *testing.T) {
	skipShort(t)
	res := buildPXE(t)
	base := "http://" + guestHTTP + "/"
	srv := serveHTTP(t, pxeRoot(t, res, contract.KeyPXERoot+"=/dev/vda"))
	disk := filepath.Join(t.TempDir(), "local.img")
	writeTo(t, disk, "")
	if err := os.Truncate(disk, 256<<20); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), "vars.fd")
	machine := func() *vm {
		cfg := pxeMachine(t, false, 256)
		cfg.Disk, cfg.Vars = disk, vars
		cfg.BootFile = base + filepath.Base(artifact(t, res, "ipxe"))
		cfg.GuestFwds = []string{relayFwd(t, srv.addr)}
		return vmtest.Start(t, cfg)
	}
	const rootLine = `imgbuild-stage1: ROOT: ext4 on /dev/vda1 \(` + contract.KeyPXERoot + `=: kept across boots\)`
	mark := fmt.Sprintf("kept-%d", time.Now().UnixNano())

	t0 := time.Now()
	v := machine()
	_, line := v.Expect(0, `imgbuild-stage1: ROOT: /dev/vda was blank: wrote a GPT with one ROOT partition, formatted ext4 \(\d+ MiB\) in \S+`, 5*time.Minute)
	t.Logf("first boot: %s", strings.TrimSpace(line))
	v.Expect(0, rootLine, time.Minute)
	_, fpLine := v.Expect(0, `\[sshd\] new host key SHA256:\S+`, 3*time.Minute)
	fp := regexp.MustCompile(`SHA256:\S+`).FindString(fpLine)
	v.ExpectHealthy(3 * time.Minute)
	t.Logf("first boot healthy %.1fs after QEMU started", time.Since(t0).Seconds())
	if got := v.Run("busybox awk '$2==\"/\"{print $1\"=\"$3}' /proc/mounts", time.Minute); got != "/dev/vda1=ext4" {
		t.Errorf("first boot: / is %q, want /dev/vda1=ext4", got)
	}
	v.Run("busybox mkdir -p /var && echo "+mark+" > /var/pxe-root-mark && busybox sync && cat /var/pxe-root-mark", time.Minute)
	v.Powerdown()

	t1 := time.Now()
	v = machine()
	v.Expect(0, rootLine, 5*time.Minute)
	_, line = v.Expect(0, `\[sshd\] (new )?host key SHA256:\S+`, 3*time.Minute)
	if strings.Contains(line, "new host key") || !strings.Contains(line, fp) {
		t.Errorf("second boot: %q; want the first boot's host key %s", line, fp)
	}
	v.ExpectHealthy(3 * time.Minute)
	t.Logf("second boot healthy %.1fs after QEMU started", time.Since(t1).Seconds())
	if consoleHas(v, `was blank`) || consoleHas(v, `ROOT: tmpfs`) {
		t.Error("second boot formatted the disk again or fell back to tmpfs")
	}
	if got := v.Run("cat /var/pxe-root-mark", time.Minute); got != mark {
		t.Errorf("second boot: /var/pxe-root-mark is %q, want %q", got, mark)
	}
	v.Powerdown()

	if out := reftool.Must(t, "sgdisk", "-v", disk); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	info := reftool.Must(t, "sgdisk", "-i", "1", disk)
	first := regexp.MustCompile(`First sector: (\d+)`).FindStringSubmatch(info)
	last := regexp.MustCompile(`Last sector: (\d+)`).FindStringSubmatch(info)
	if first == nil || last == nil || !strings.Contains(info, "Partition name: 'ROOT'") {
		t.Fatalf("sgdisk -i 1:\n%s", info)
	}
	a, _ := strconv.ParseInt(first[1], 10, 64)
	b, _ := strconv.ParseInt(last[1], 10, 64)
	root := reftool.Extract(t, disk, a*512, (b-a+1)*512)
	if out, err := reftool.Run(t, "e2fsck", "-fn", root); err != nil || strings.Contains(out, "?") {
		t.Errorf("e2fsck -fn ROOT: %v\n%s", err, out)
	}
}
