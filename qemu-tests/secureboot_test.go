package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

const ovmfSecbootCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"

// buildSecureBoot builds the signed minimal image with
// --secure-boot-keys, from a fresh PK/KEK/db set.
func buildSecureBoot(t *testing.T) *output.Result {
	t.Helper()
	return buildSignedVariant(t, "secureboot", func(dir string, o *build.Options) error {
		o.SecureBootKeys = filepath.Join(dir, "sbkeys")
		if err := os.MkdirAll(o.SecureBootKeys, 0o700); err != nil {
			return err
		}
		_, err := secureboot.Generate(o.SecureBootKeys, "imgbuild qemu-test", secureboot.DefaultBits, time.Now())
		return err
	}).res
}

// bootFirmware starts a disk under the given OVMF code and VARS file,
// with no console input. Secure Boot firmware needs SMM and the secure
// pflash, which qemu.Config.SecureBoot turns on.
func bootFirmware(t *testing.T, diskPath, code, vars string, secure bool) *vm {
	t.Helper()
	return vmtest.Start(t, qemu.Config{Disk: diskPath, Code: code, Vars: vars, SecureBoot: secure, MemoryMiB: 1024})
}

func copyVars(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

var kernelStarted = regexp.MustCompile(`Linux version|imgbuild-stage1: `)

// TestSecureBoot walks one machine through its life: the firmware in
// setup mode runs our signed systemd-boot, which enrolls PK, KEK and db
// and resets; the next boot runs the signed UKI with Secure Boot on,
// up to healthy; a UKI whose .cmdline was edited is then refused.
func TestSecureBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	res := buildSecureBoot(t)
	img := diskCopy(t, res)
	vars := copyVars(t, qemu.OVMFVars) // a blank store: setup mode

	t.Run("enroll", func(t *testing.T) {
		v := bootFirmware(t, img, ovmfSecbootCode, vars, true)
		v.Expect(0, `Enrolling secure boot keys`, 90*time.Second)
		v.WaitExit(90 * time.Second)
		for _, l := range v.Console.Lines() {
			if kernelStarted.MatchString(l) {
				t.Fatalf("the kernel started before the reset that follows enrollment: %q", l)
			}
		}
	})
	if t.Failed() {
		return
	}
	t.Run("signed UKI boots", func(t *testing.T) {
		start := time.Now()
		v := bootFirmware(t, img, ovmfSecbootCode, vars, true)
		v.Expect(0, `imgbuild-stage1: Secure Boot enabled`, 90*time.Second)
		v.ExpectHealthy(90 * time.Second)
		t.Logf("Secure Boot: healthy %.1fs after QEMU started", time.Since(start).Seconds())
		v.Powerdown()
	})
	t.Run("edited cmdline refused", func(t *testing.T) {
		bad := diskCopy(t, res)
		flipUKICmdline(t, bad)
		v := bootFirmware(t, bad, ovmfSecbootCode, copyVars(t, vars), true)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, line, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`Access Denied|Security Violation`), kernelStarted)
		if err != nil {
			t.Fatalf("want the firmware to refuse the edited UKI: %v", err)
		}
		t.Logf("refused: %q", line)
	})
}

// TestSecureBootImageOrdinaryOVMF boots the same image under Debian's
// ordinary OVMF build (no SMM): that firmware has Secure Boot variables
// too, so systemd-boot enrolls the keys there as well and the image
// then boots verified, only without SMM protecting the variable store.
func TestSecureBootImageOrdinaryOVMF(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	res := buildSecureBoot(t)
	img, vars := diskCopy(t, res), copyVars(t, qemu.OVMFVars)
	v := bootFirmware(t, img, qemu.OVMFCode, vars, false)
	v.Expect(0, `Enrolling secure boot keys`, 90*time.Second)
	v.WaitExit(90 * time.Second)
	v = bootFirmware(t, img, qemu.OVMFCode, vars, false)
	v.Expect(0, `imgbuild-stage1: Secure Boot enabled`, 90*time.Second)
	v.ExpectHealthy(90 * time.Second)
	v.Powerdown()
}

// TestNoSecureBootReported boots an image built without
// --secure-boot-keys: no keys get enrolled and stage-1 says so.
func TestNoSecureBootReported(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	res := buildImage(t, "minimal")
	v := bootFirmware(t, diskCopy(t, res), qemu.OVMFCode, copyVars(t, qemu.OVMFVars), false)
	v.Expect(0, `imgbuild-stage1: Secure Boot disabled`, 90*time.Second)
	v.ExpectHealthy(90 * time.Second)
	v.Powerdown()
}

// espImage names img's ESP the way mtools' -i takes it.
func espImage(t *testing.T, img string) string {
	t.Helper()
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	esp, ok := info.Partition(1)
	if !ok {
		t.Fatal("no ESP")
	}
	return fmt.Sprintf("%s@@%d", img, esp.Start)
}

// flipUKICmdline edits one byte of slot A's UKI .cmdline on the ESP, the
// way an attacker with the disk would (mtools, a tool we did not write,
// reads and writes the FAT file).
func flipUKICmdline(t *testing.T, img string) {
	t.Helper()
	fs := espImage(t, img)
	local := filepath.Join(t.TempDir(), "uki.efi")
	mtools(t, "mcopy", "-i", fs, "::/"+contract.UKIPath("a"), local)
	data, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	off, err := uki.SectionOffset(data, ".cmdline")
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := uki.SectionData(data, ".cmdline")
	i := bytes.Index(cmd, []byte("panic=10"))
	if i < 0 {
		t.Fatalf(".cmdline %q has no panic=10 to edit", cmd)
	}
	data[off+int64(i)+7] = '9' // panic=19: still a valid command line
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mtools(t, "mcopy", "-o", "-i", fs, local, "::/"+contract.UKIPath("a"))
}

func mtools(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
