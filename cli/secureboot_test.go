package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

func TestKeygenSecureBoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sb")
	code, out := run(t, "keygen", "--secure-boot", "-o", dir)
	if code != ExitOK {
		t.Fatalf("keygen --secure-boot: exit %d\n%s", code, out)
	}
	if _, err := secureboot.Load(dir); err != nil {
		t.Fatalf("the key set keygen wrote does not load: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "db.key"))
	if code, out = run(t, "keygen", "--secure-boot", "-o", dir); code == ExitOK || !strings.Contains(out, "refusing to overwrite") {
		t.Fatalf("second keygen --secure-boot: exit %d, want a refusal\n%s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "db.key")); !bytes.Equal(before, after) {
		t.Error("second keygen changed db.key")
	}
	if code, out = run(t, "keygen", "--secure-boot", "--bits", "1024", "-o", t.TempDir()); code == ExitOK {
		t.Errorf("keygen accepted 1024-bit keys:\n%s", out)
	}
}

// TestSecureBootBuildLayout builds with --secure-boot-keys and reads the
// ESP back with mtools: signed systemd-boot and UKI (osslsigncode
// verify), the UKI's sections equal the build's kernel, initramfs and
// command line, the enrollment files and loader.conf are there, and the
// entry passes no options.
func TestSecureBootBuildLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Fatal("osslsigncode is needed for this test (scripts/deps.sh)")
	}
	dir := t.TempDir()
	keys, sb, out := filepath.Join(dir, "keys"), filepath.Join(dir, "sb"), filepath.Join(dir, "out")
	if code, o := run(t, "keygen", "-o", keys); code != ExitOK {
		t.Fatal(o)
	}
	if code, o := run(t, "keygen", "--secure-boot", "-o", sb); code != ExitOK {
		t.Fatal(o)
	}
	mf := testManifest(t, dir)
	if code, o := run(t, "build", "-q", "-f", mf, "-o", out, "--sign-key", filepath.Join(keys, sign.PrivateKeyFile), "--secure-boot-keys", sb); code != ExitOK {
		t.Fatalf("build: exit %d\n%s", code, o)
	}
	img := filepath.Join(out, "minimal.img")
	if conf := string(mcopyFile(t, img, "/loader/loader.conf")); !strings.Contains(conf, "secure-boot-enroll force\n") || !strings.Contains(conf, "editor no\n") {
		t.Errorf("loader.conf:\n%s", conf)
	}
	entry := string(mcopyFile(t, img, "/loader/entries/imgbuild-a+3.conf"))
	if !strings.Contains(entry, "efi     /imgbuild/a/uki.efi\n") || strings.Contains(entry, "options") || strings.Contains(entry, "linux") {
		t.Errorf("entry:\n%s", entry)
	}
	for _, r := range secureboot.Roles {
		want, _ := os.ReadFile(filepath.Join(sb, secureboot.AuthFile(r)))
		if got := mcopyFile(t, img, "/loader/keys/auto/"+r+".auth"); !bytes.Equal(got, want) {
			t.Errorf("ESP %s.auth differs from the key directory's", r)
		}
	}
	ukiData := mcopyFile(t, img, "/imgbuild/a/uki.efi")
	for esp, data := range map[string][]byte{"uki.efi": ukiData, "BOOTX64.EFI": mcopyFile(t, img, "/EFI/BOOT/BOOTX64.EFI")} {
		f := filepath.Join(dir, esp)
		os.WriteFile(f, data, 0o644)
		if o, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(sb, "db.crt"), "-in", f).CombinedOutput(); err != nil {
			t.Errorf("osslsigncode verify %s: %v\n%s", esp, err, o)
		}
	}
	rec, err := sign.ParseRecord(mcopyFile(t, img, "/imgbuild/a/release.json"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := uki.SectionData(ukiData, ".cmdline")
	if err != nil || !bytes.HasSuffix(cmd, []byte(" imgbuild.verity="+rec.VerityRoot+"\x00")) || !bytes.HasPrefix(cmd, []byte("console=ttyS0")) {
		t.Errorf(".cmdline %q (%v), want the slot's command line ending in the record's root hash", cmd, err)
	}
	for section, file := range map[string]string{".linux": "minimal.vmlinuz", ".initrd": "minimal.initrd"} {
		want, _ := os.ReadFile(filepath.Join(out, file))
		if got, err := uki.SectionData(ukiData, section); err != nil || !bytes.Equal(got, want) {
			t.Errorf("UKI %s is not %s (%v)", section, file, err)
		}
	}
	code, o := run(t, "verify", img, "--pub", filepath.Join(keys, sign.PublicKeyFile))
	if code != ExitOK || !strings.Contains(o, "UKI .linux sha256") || !strings.Contains(o, "UKI .cmdline") {
		t.Errorf("imgbuild verify of a Secure Boot image: exit %d, want the UKI checks to pass\n%s", code, o)
	}
	// An edited .cmdline inside the UKI (the firmware would refuse it,
	// and so must verify).
	raw, _ := os.ReadFile(img)
	at := bytes.Index(raw, []byte("imgbuild.verity="+rec.VerityRoot))
	if at < 0 || bytes.Count(raw, []byte("imgbuild.verity="+rec.VerityRoot)) != 1 {
		t.Fatalf("the UKI's command line is not once in the image (at %d)", at)
	}
	edited := append([]byte(nil), raw...)
	edited[at+len("imgbuild.verity=")] ^= 1
	bad := filepath.Join(dir, "edited.img")
	os.WriteFile(bad, edited, 0o644)
	if code, o := run(t, "verify", bad, "--pub", filepath.Join(keys, sign.PublicKeyFile)); code == ExitOK || !strings.Contains(o, "the UKI's command line does not carry the record's root hash") {
		t.Errorf("verify of a UKI with an edited command line: exit %d\n%s", code, o)
	}

	os.Remove(filepath.Join(sb, "db.auth"))
	code, o = run(t, "build", "-q", "-f", mf, "-o", filepath.Join(dir, "out2"), "--sign-key", filepath.Join(keys, sign.PrivateKeyFile), "--secure-boot-keys", sb)
	if code == ExitOK || !strings.Contains(o, "--secure-boot-keys") || !strings.Contains(o, "db.auth") {
		t.Errorf("build with a key directory missing db.auth: exit %d\n%s", code, o)
	}
}
