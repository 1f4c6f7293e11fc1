package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/sign"
)

// run runs the imgbuild CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Execute(context.Background(), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}, args)
	return code, out.String()
}

// testManifest copies the shipped minimal manifest into dir so that a
// build does not touch the repository. Its lock file stays behind: the
// build pins the archive's current packages, so the test does not break
// when the archive moves on.
func testManifest(t *testing.T, dir string) string {
	t.Helper()
	for _, name := range []string{"minimal.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "manifests", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "minimal.yaml")
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	code, out := run(t, "keygen", "-o", dir)
	if code != ExitOK || !regexp.MustCompile(`key id [0-9a-f]{16}`).MatchString(out) {
		t.Fatalf("first keygen: exit %d\n%s", code, out)
	}
	before, _ := os.ReadFile(filepath.Join(dir, sign.PrivateKeyFile))
	code, out = run(t, "keygen", "-o", dir)
	if code == ExitOK || !strings.Contains(out, "refusing to overwrite") {
		t.Fatalf("second keygen: exit %d, want a refusal\n%s", code, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, sign.PrivateKeyFile))
	if !bytes.Equal(before, after) {
		t.Error("second keygen changed the private key")
	}
}

// TestSignedBuildVerify builds a signed image and checks the release
// record end to end: as written beside the image and on the ESP, against
// the artifacts and veritysetup, and with imgbuild verify for a good
// image, a foreign key and a flipped USR byte.
func TestSignedBuildVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if _, err := exec.LookPath("veritysetup"); err != nil {
		t.Fatal("veritysetup (cryptsetup-bin) is needed for this test")
	}
	dir := t.TempDir()
	keys, other, out := filepath.Join(dir, "keys"), filepath.Join(dir, "other"), filepath.Join(dir, "out")
	for _, d := range []string{keys, other} {
		if code, o := run(t, "keygen", "-o", d); code != ExitOK {
			t.Fatalf("keygen: %s", o)
		}
	}
	if code, o := run(t, "build", "-q", "-f", testManifest(t, dir), "-o", out, "--sign-key", filepath.Join(keys, sign.PrivateKeyFile)); code != ExitOK {
		t.Fatalf("build: exit %d\n%s", code, o)
	}
	img := filepath.Join(out, "minimal.img")

	// The record beside the image is the one on the ESP, and it holds
	// the artifacts' hashes.
	recJSON, err := os.ReadFile(filepath.Join(out, "minimal.release.json"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(out, "minimal.release.sig"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.LoadPublic(filepath.Join(keys, sign.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sign.Verify(recJSON, sig, []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != "minimal" || rec.Version != "1.0.0" || rec.Arch != "amd64" || rec.Format != sign.RecordFormat {
		t.Errorf("record identity = %s %s %s %s", rec.Format, rec.Name, rec.Version, rec.Arch)
	}
	for file, want := range map[string]string{"minimal.vmlinuz": rec.Kernel, "minimal.initrd": rec.Initramfs, "minimal.usr": rec.USR} {
		if got := fileSum(t, filepath.Join(out, file)); got != want {
			t.Errorf("%s sha256 %s, record says %s", file, got, want)
		}
	}
	esp := mcopyFile(t, img, "imgbuild/a/release.json")
	if !bytes.Equal(esp, recJSON) {
		t.Errorf("ESP record differs from minimal.release.json:\n%s\n%s", esp, recJSON)
	}
	entry := mcopyFile(t, img, "loader/entries/imgbuild-a+3.conf")
	if !strings.Contains(string(entry), "imgbuild.verity="+rec.VerityRoot) {
		t.Errorf("boot entry lacks imgbuild.verity=%s:\n%s", rec.VerityRoot, entry)
	}
	// veritysetup, a tool we did not write, agrees with the record.
	usr := filepath.Join(out, "minimal.usr")
	if o, err := exec.Command("veritysetup", "verify", usr, usr, rec.VerityRoot,
		"--hash-offset", strconv.FormatInt(rec.HashOffset, 10)).CombinedOutput(); err != nil {
		t.Errorf("veritysetup verify with the record's parameters: %v\n%s", err, o)
	}

	t.Run("good", func(t *testing.T) {
		code, o := run(t, "verify", img, "--pub", filepath.Join(keys, sign.PublicKeyFile))
		if code != ExitOK || strings.Contains(o, "FAILED") || strings.Count(o, "ok      ") != 5 ||
			!strings.Contains(o, "slot A: release 1.0.0") || !strings.Contains(o, "slot B: empty") {
			t.Fatalf("verify: exit %d\n%s", code, o)
		}
		if code, o := run(t, "inspect", img); code != ExitOK || !strings.Contains(o, "slot A: release 1.0.0") || !strings.Contains(o, "slot B: empty") {
			t.Fatalf("inspect: exit %d\n%s", code, o)
		}
	})
	t.Run("slot B", func(t *testing.T) {
		// Slot B as an update leaves it: slot A's release copied into
		// USR-B and imgbuild/b/ on the ESP.
		two := filepath.Join(t.TempDir(), "two.img")
		copySparse(t, img, two)
		copyPartition(t, two, 3, 4)
		for _, f := range []string{"vmlinuz", "initrd", "release.sig", "release.json"} {
			mcopyTo(t, two, mcopyFile(t, two, "imgbuild/a/"+f), "imgbuild/b/"+f)
		}
		pubFile := filepath.Join(keys, sign.PublicKeyFile)
		code, o := run(t, "verify", two, "--pub", pubFile)
		if code != ExitOK || strings.Count(o, "ok      ") != 10 || !strings.Contains(o, "slot B: release 1.0.0") ||
			!strings.Contains(o, "ok      USR-B sha256") || !strings.Contains(o, "ok      dm-verity tree of USR-B") {
			t.Fatalf("verify with slot B: exit %d\n%s", code, o)
		}
		if code, o := run(t, "inspect", two); code != ExitOK || !strings.Contains(o, "slot B: release 1.0.0") {
			t.Fatalf("inspect with slot B: exit %d\n%s", code, o)
		}
		info, err := disk.Read(two)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := info.Partition(4)
		flip(t, two, p.Start+7*4096+5)
		code, o = run(t, "verify", two, "--pub", pubFile)
		if code != ExitFailure || !strings.Contains(o, "FAILED  USR-B sha256") || !strings.Contains(o, "ok      USR-A sha256") ||
			!strings.Contains(o, "verity: data block 7 ") {
			t.Fatalf("verify after flipping a USR-B byte: exit %d\n%s", code, o)
		}
	})
	t.Run("other key", func(t *testing.T) {
		otherPub, err := sign.LoadPublic(filepath.Join(other, sign.PublicKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		code, o := run(t, "verify", img, "--pub", filepath.Join(other, sign.PublicKeyFile))
		if code != ExitFailure || !strings.Contains(o, "FAILED  signature") ||
			!strings.Contains(o, sign.KeyID(otherPub)) || !strings.Contains(o, sign.KeyID(pub)) {
			t.Fatalf("verify with another key: exit %d, want 1 naming both key ids\n%s", code, o)
		}
	})
	t.Run("flipped USR data byte", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.img")
		copySparse(t, img, bad)
		info, err := disk.Read(bad)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := info.Partition(3)
		const block = 100
		flip(t, bad, p.Start+block*4096+123)
		code, o := run(t, "verify", bad, "--pub", filepath.Join(keys, sign.PublicKeyFile))
		if code != ExitFailure || !strings.Contains(o, "FAILED  USR-A sha256") ||
			!strings.Contains(o, "verity: data block "+strconv.Itoa(block)+" at offset "+strconv.Itoa(block*4096)) {
			t.Fatalf("verify after flipping data block %d: exit %d\n%s", block, code, o)
		}
		if !strings.Contains(o, "ok      signature") {
			t.Errorf("the signature should still check out:\n%s", o)
		}
	})
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// mcopyFile reads a file from the image's ESP with mtools.
func mcopyFile(t *testing.T, img, path string) []byte {
	t.Helper()
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := info.Partition(1)
	o, err := exec.Command("mcopy", "-n", "-i", img+"@@"+strconv.FormatInt(p.Start, 10), "::"+path, "-").Output()
	if err != nil {
		t.Fatalf("mcopy %s: %v", path, err)
	}
	return o
}

// mcopyTo writes data to path on the image's ESP with mtools.
func mcopyTo(t *testing.T, img string, data []byte, path string) {
	t.Helper()
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := info.Partition(1)
	fs := img + "@@" + strconv.FormatInt(p.Start, 10)
	_ = exec.Command("mmd", "-i", fs, "::"+filepath.Dir(path)).Run() // may exist
	local := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command("mcopy", "-o", "-i", fs, local, "::"+path).CombinedOutput(); err != nil {
		t.Fatalf("mcopy %s: %v\n%s", path, err, o)
	}
}

// copyPartition copies partition from's bytes into partition to.
func copyPartition(t *testing.T, img string, from, to int) {
	t.Helper()
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := info.Partition(from)
	dst, _ := info.Partition(to)
	if dst.Size < src.Size {
		t.Fatalf("partition %d is smaller than %d", to, from)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(io.NewOffsetWriter(f, dst.Start), io.NewSectionReader(f, src.Start, src.Size)); err != nil {
		t.Fatal(err)
	}
}

func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if o, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, o)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestUSRTooSmall: when squashfs and hash tree do not fit the slot, the
// build says so and names disk.usr.
func TestUSRTooSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	dir := t.TempDir()
	mf := testManifest(t, dir)
	data, _ := os.ReadFile(mf)
	// 6 MiB that do not compress, in an 8 MiB slot.
	big := make([]byte, 6<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(data), "usr: 64MiB", "usr: 8MiB", 1)
	small = strings.Replace(small, "files:\n", "files:\n  - path: /usr/share/big.bin\n    source: big.bin\n", 1)
	if !strings.Contains(small, "usr: 8MiB") || !strings.Contains(small, "big.bin") {
		t.Fatal("manifests/minimal.yaml changed shape (usr: 64MiB, files:); update this test")
	}
	os.WriteFile(mf, []byte(small), 0o644)
	code, o := run(t, "build", "-q", "-f", mf, "-o", filepath.Join(dir, "out"))
	if code != ExitFailure || !regexp.MustCompile(`USR needs [\d.]+ MiB \(squashfs [\d.]+ MiB \+ dm-verity hash area [\d.]+ MiB\), more than its slot \(disk.usr = 8MiB\): raise disk.usr`).MatchString(o) {
		t.Fatalf("build with an 8 MiB USR slot: exit %d\n%s", code, o)
	}
}

// TestUnsignedNeedsManifestConsent: without --sign-key the manifest must
// allow unsigned builds.
func TestUnsignedNeedsManifestConsent(t *testing.T) {
	dir := t.TempDir()
	mf := testManifest(t, dir)
	data, _ := os.ReadFile(mf)
	os.WriteFile(mf, bytes.Replace(data, []byte("allow_unsigned: true"), []byte("allow_unsigned: false"), 1), 0o644)
	code, o := run(t, "build", "-q", "-f", mf, "-o", filepath.Join(dir, "out"))
	if code != ExitFailure || !strings.Contains(o, "no --sign-key given") || !strings.Contains(o, "security.allow_unsigned") {
		t.Fatalf("unsigned build of a manifest without allow_unsigned: exit %d\n%s", code, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "minimal.img")); err == nil {
		t.Error("a refused build left an image")
	}
}
