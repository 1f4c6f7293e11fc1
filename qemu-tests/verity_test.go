package qemutests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/sign"
)

// signedVariant is the signed minimal image, with a second release key
// (other/ in its dir) that the image does not trust.
func signedVariant(t *testing.T) *signedBuild {
	t.Helper()
	return buildSignedVariant(t, "signed", func(dir string, _ *build.Options) error {
		if err := os.MkdirAll(filepath.Join(dir, "other"), 0o700); err != nil {
			return err
		}
		_, _, err := sign.GenerateKey(filepath.Join(dir, "other"))
		return err
	})
}

func buildSigned(t *testing.T) *output.Result {
	t.Helper()
	return signedVariant(t).res
}

// slotImage is a test's own copy of the signed image, with its release
// record and USR-A partition at hand.
type slotImage struct {
	path   string
	rec    *sign.Record
	recRaw []byte
	usr    disk.PartitionInfo
	esp    disk.PartitionInfo
}

func signedCopy(t *testing.T) *slotImage {
	t.Helper()
	res := buildSigned(t)
	img := &slotImage{path: diskCopy(t, res)}
	var err error
	if img.recRaw, err = os.ReadFile(artifact(t, res, "release")); err != nil {
		t.Fatal(err)
	}
	if img.rec, err = sign.ParseRecord(img.recRaw); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Read(img.path)
	if err != nil {
		t.Fatal(err)
	}
	img.usr, _ = info.Partition(3)
	img.esp, _ = info.Partition(1)
	return img
}

// busyboxFrame finds the squashfs data block holding the start of
// /usr/bin/busybox in USR: the zstd frame that decompresses to the
// binary's first bytes (unsquashfs, a tool we did not write, gives
// those). It returns the frame's offset within the partition.
func (img *slotImage) busyboxFrame(t *testing.T) int64 {
	t.Helper()
	usrFile := filepath.Join(t.TempDir(), "usr.sqfs")
	data := make([]byte, img.rec.HashOffset)
	f, err := os.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(data, img.usr.Start); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(usrFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("unsquashfs", "-cat", usrFile, "bin/busybox").Output()
	if err != nil || len(head) < 4096 {
		t.Fatalf("unsquashfs -cat bin/busybox: %v (%d bytes)", err, len(head))
	}
	head = head[:4096]
	magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
	for i := 0; ; {
		j := bytes.Index(data[i:], magic)
		if j < 0 {
			break
		}
		off := i + j
		i = off + 1
		dec, err := zstd.NewReader(bytes.NewReader(data[off:]), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(head))
		_, err = io.ReadFull(dec, got)
		dec.Close()
		if err == nil && bytes.Equal(got, head) {
			return int64(off)
		}
	}
	t.Fatal("no zstd frame in USR decompresses to the start of busybox")
	return 0
}

func (img *slotImage) flip(t *testing.T, off int64) {
	t.Helper()
	f, err := os.OpenFile(img.path, os.O_RDWR, 0)
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

// putESP replaces a file on the image's ESP with mtools.
func (img *slotImage) putESP(t *testing.T, path string, data []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mcopy", "-o", "-i", img.path+"@@"+strconv.FormatInt(img.esp.Start, 10), src, "::"+path)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy %s: %v\n%s", path, err, out)
	}
}

func (img *slotImage) getESP(t *testing.T, path string) []byte {
	t.Helper()
	cmd := exec.Command("mcopy", "-n", "-i", img.path+"@@"+strconv.FormatInt(img.esp.Start, 10), "::"+path, "-")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcopy %s: %v", path, err)
	}
	return out
}

// bootUntil boots img and waits for want, without stopping at failure
// markers (some of these boots are meant to fail).
func bootUntil(t *testing.T, img string, want string, timeout time.Duration) (*vm, string) {
	t.Helper()
	v := boot(t, img, filepath.Join(t.TempDir(), "vars.fd"), 512)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	i, line, err := v.Console.Expect(ctx, 0, regexp.MustCompile(want), nil)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	// A moment more for what follows (sysinit's reaction), then the
	// markers for the log.
	time.Sleep(3 * time.Second)
	lines := v.Console.Lines()
	var shown []string
	for _, l := range lines[max(0, i-15):] {
		if strings.Contains(l, "imgbuild-") || strings.Contains(l, "device-mapper") || strings.Contains(l, "[httpd]") || strings.Contains(l, "SQUASHFS") {
			shown = append(shown, strings.TrimSpace(l))
		}
	}
	t.Logf("console:\n  %s", strings.Join(shown, "\n  "))
	return v, line
}

func consoleHas(v *vm, re string) bool {
	pat := regexp.MustCompile(re)
	for _, l := range v.Console.Lines() {
		if pat.MatchString(l) {
			return true
		}
	}
	return false
}

func TestVeritySignedBoots(t *testing.T) {
	skipShort(t)
	img := signedCopy(t)
	pub, err := sign.LoadPrivate(signedVariant(t).key)
	if err != nil {
		t.Fatal(err)
	}
	id := sign.KeyID(pub.Public().(ed25519.PublicKey))
	v := boot(t, img.path, filepath.Join(t.TempDir(), "vars.fd"), 512)
	_, line := v.Expect(0, `imgbuild-stage1: USR verified by dm-verity`, 3*time.Minute)
	want := "imgbuild-stage1: USR verified by dm-verity, root hash " + img.rec.VerityRoot[:12] + "…, signed by key " + id
	if !strings.Contains(line, want) {
		t.Errorf("verified line %q, want %q", line, want)
	}
	_, setup := v.Expect(0, `imgbuild-stage1: dm-verity set up in`, time.Minute)
	_, sw := v.Expect(0, `imgbuild-stage1: switching to USR`, time.Minute)
	healthy := v.ExpectHealthy(2 * time.Minute).Line
	if consoleHas(v, `UNSIGNED`) {
		t.Error("a signed image printed UNSIGNED")
	}
	t.Logf("%s | %s | %s", setup, sw, healthy)
	// No powerdown(): its Kill fallback waits for QEMU's stdin copier,
	// which only ends when the cleanup closes the pipe; the cleanup
	// closes it and kills QEMU.
}

// TestVerityCorruptUSRData flips one byte in the compressed first block
// of busybox: stage-1 mounts USR fine, and when sysinit starts the
// httpd service (busybox) the read fails with the kernel's verity
// message, and the image never becomes healthy.
func TestVerityCorruptUSRData(t *testing.T) {
	skipShort(t)
	img := signedCopy(t)
	frame := img.busyboxFrame(t)
	// A byte in the frame's second 4 KiB block, so the squashfs
	// superblock's block stays intact and USR still mounts.
	off := (frame/verity.BlockSize+1)*verity.BlockSize + 100
	img.flip(t, img.usr.Start+off)
	v, line := bootUntil(t, img.path, `device-mapper: verity: .*data block \d+ is corrupted`, 4*time.Minute)
	t.Logf("busybox frame at USR offset %d, flipped %d: %s", frame, off, line)
	if !strings.Contains(line, "data block "+strconv.FormatInt(off/verity.BlockSize, 10)+" ") {
		t.Errorf("kernel names another block than data block %d: %s", off/verity.BlockSize, line)
	}
	if !consoleHas(v, `imgbuild-stage1: USR verified by dm-verity`) {
		t.Error("stage-1 did not set up verity before the read failed")
	}
	if consoleHas(v, `imgbuild-sysinit: healthy`) {
		t.Error("the image became healthy with a corrupted busybox")
	}
}

// TestVerityCorruptHashTree flips one byte of the bottom-level hash
// block that vouches for busybox's first block. That hash block also
// covers the squashfs superblock (data block 0), so the failing read is
// stage-1's mount of USR: FATAL before switch_root.
func TestVerityCorruptHashTree(t *testing.T) {
	skipShort(t)
	img := signedCopy(t)
	frame := img.busyboxFrame(t)
	dataBlock := uint64(frame/verity.BlockSize) + 1
	var upper uint64 // hash blocks above the bottom level
	var sizes []uint64
	for n := img.rec.DataBlocks; n > 1; {
		n = (n + 127) / 128
		sizes = append(sizes, n)
	}
	for _, s := range sizes[1:] {
		upper += s
	}
	hashBlock := img.rec.HashOffset + int64(1+upper+dataBlock/128)*verity.BlockSize
	img.flip(t, img.usr.Start+hashBlock+int64(dataBlock%128)*32)
	v, line := bootUntil(t, img.path, `device-mapper: verity: .*metadata block \d+ is corrupted`, 4*time.Minute)
	t.Logf("flipped the digest of data block %d in hash block at USR offset %d: %s", dataBlock, hashBlock, line)
	if !consoleHas(v, `imgbuild-stage1: FATAL: mount: .*input/output error`) {
		t.Error("stage-1 did not stop with a FATAL mount error")
	}
	if consoleHas(v, `imgbuild-sysinit: healthy`) {
		t.Error("the image became healthy with a corrupted hash tree")
	}
}

// TestVerityOtherKeyRefused replaces the release signature with one by
// a key the initramfs does not trust; a missing signature is refused
// too, since the signed build carries no allow-unsigned marker.
func TestVerityOtherKeyRefused(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name string
		sig  func(t *testing.T, img *slotImage) []byte
		want string
	}{
		{"other key", func(t *testing.T, img *slotImage) []byte {
			k, err := sign.LoadPrivate(filepath.Join(signedVariant(t).dir, "other", sign.PrivateKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sign.Sign(*img.rec, k)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, `imgbuild-stage1: FATAL: verify USR: imgbuild/a/release.sig: sign: signature does not match any trusted key`},
		{"tampered record", nil, `imgbuild-stage1: FATAL: verify USR: imgbuild/a/release.sig: sign: signature does not match any trusted key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := signedCopy(t)
			if tc.sig != nil {
				img.putESP(t, "imgbuild/a/release.sig", tc.sig(t, img))
			} else {
				// A record pointing at another root hash, with the
				// original signature: what an attacker who rebuilt USR
				// would need stage-1 to accept.
				forged := *img.rec
				forged.VerityRoot = strings.Repeat("00", 32)
				img.putESP(t, "imgbuild/a/release.json", forged.Canonical())
			}
			v, line := bootUntil(t, img.path, `imgbuild-stage1: FATAL`, 3*time.Minute)
			if !regexp.MustCompile(tc.want).MatchString(line) {
				t.Errorf("FATAL line %q, want %q", line, tc.want)
			}
			if consoleHas(v, `imgbuild-sysinit:`) {
				t.Error("sysinit ran after a refused signature")
			}
		})
	}
}

// TestVerityCmdlineRootRefused rebuilds USR's tree after changing a byte
// of busybox (a consistent but different USR) and puts its root hash on
// the boot entry's command line: the signed record still names the old
// root, so stage-1 refuses.
func TestVerityCmdlineRootRefused(t *testing.T) {
	skipShort(t)
	img := signedCopy(t)
	frame := img.busyboxFrame(t)
	img.flip(t, img.usr.Start+frame+5000)
	f, err := os.OpenFile(img.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := hex.DecodeString(img.rec.VeritySalt)
	part := io.NewSectionReader(f, img.usr.Start, img.usr.Size)
	p, err := verity.Build(part, img.rec.HashOffset, io.NewOffsetWriter(f, img.usr.Start), img.rec.HashOffset, salt, img.rec.VerityUUID, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	newRoot := hex.EncodeToString(p.RootHash)
	if newRoot == img.rec.VerityRoot {
		t.Fatal("rebuilt tree has the old root hash")
	}
	const entry = "loader/entries/imgbuild-a+3.conf"
	old := string(img.getESP(t, entry))
	edited := strings.Replace(old, "imgbuild.verity="+img.rec.VerityRoot, "imgbuild.verity="+newRoot, 1)
	if edited == old {
		t.Fatalf("boot entry has no imgbuild.verity=%s:\n%s", img.rec.VerityRoot, old)
	}
	img.putESP(t, entry, []byte(edited))
	v, line := bootUntil(t, img.path, `imgbuild-stage1: FATAL`, 3*time.Minute)
	want := "imgbuild.verity=" + newRoot + " on the kernel command line differs from the root hash " + img.rec.VerityRoot + " of the signed release record"
	if !strings.Contains(line, want) {
		t.Errorf("FATAL line %q, want it to contain %q", line, want)
	}
	if consoleHas(v, `imgbuild-sysinit:`) {
		t.Error("sysinit ran after the command line disagreed with the record")
	}
}
