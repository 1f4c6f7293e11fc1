package uki

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/sign/secureboot"
)

const hostStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

func stub(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(hostStub)
	if err != nil {
		t.Fatalf("systemd-boot-efi's stub is needed (scripts/deps.sh installs it): %v", err)
	}
	return data
}

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is needed for this test (scripts/deps.sh installs it): %v", tool, err)
	}
}

func sample(t *testing.T) (Input, []byte) {
	t.Helper()
	in := Input{
		Stub:    stub(t),
		OSRel:   []byte("ID=imgbuild\nNAME=imgbuild\n"),
		Cmdline: "console=ttyS0,115200 imgbuild.verity=" + strings.Repeat("ab", 32),
		Linux:   bytes.Repeat([]byte("kernel!"), 100001),
		Initrd:  bytes.Repeat([]byte{0x70, 0x71, 0x72}, 5000),
	}
	img, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return in, img
}

func TestChecksumMatchesLinker(t *testing.T) {
	s := stub(t)
	peOff := int(binary.LittleEndian.Uint32(s[0x3c:]))
	want := binary.LittleEndian.Uint32(s[peOff+24+64:])
	if want == 0 {
		t.Skip("stub carries no checksum to compare with")
	}
	if got := Checksum(s, peOff+24+64); got != want {
		t.Errorf("Checksum(stub) = %#x, the linker wrote %#x", got, want)
	}
}

// objdumpSection is one line of objdump -h.
type objdumpSection struct {
	size, vma, off uint64
}

func objdumpHeaders(t *testing.T, path string) map[string]objdumpSection {
	t.Helper()
	out, err := exec.Command("objdump", "-h", path).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)`)
	secs := map[string]objdumpSection{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		size, _ := strconv.ParseUint(m[2], 16, 64)
		vma, _ := strconv.ParseUint(m[3], 16, 64)
		off, _ := strconv.ParseUint(m[4], 16, 64)
		secs[m[1]] = objdumpSection{size, vma, off}
	}
	return secs
}

// TestSectionsWithObjdump reads the UKI with binutils: every section is
// listed, no two overlap in memory, the new ones sit page-aligned
// above the stub, and each one's bytes in the file are what we put in.
func TestSectionsWithObjdump(t *testing.T) {
	need(t, "objdump")
	in, img := sample(t)
	path := filepath.Join(t.TempDir(), "uki.efi")
	os.WriteFile(path, img, 0o644)
	secs := objdumpHeaders(t, path)
	stubSecs := objdumpHeaders(t, hostStub)
	var stubEnd uint64
	for name, s := range stubSecs {
		if got, ok := secs[name]; !ok || got != s {
			t.Errorf("stub section %s changed: %+v -> %+v", name, s, got)
		}
		stubEnd = max(stubEnd, s.vma+s.size)
	}
	want := map[string][]byte{".osrel": in.OSRel, ".cmdline": append([]byte(in.Cmdline), 0), ".initrd": in.Initrd, ".linux": in.Linux}
	prevEnd := stubEnd
	for _, name := range []string{".osrel", ".cmdline", ".initrd", ".linux"} {
		s, ok := secs[name]
		if !ok {
			t.Fatalf("objdump does not list %s", name)
		}
		if s.vma%pageSize != 0 || s.vma < prevEnd {
			t.Errorf("%s at %#x: want page-aligned above %#x", name, s.vma, prevEnd)
		}
		prevEnd = s.vma + s.size
		if s.size < uint64(len(want[name])) || !bytes.Equal(img[s.off:s.off+uint64(len(want[name]))], want[name]) {
			t.Errorf("%s: file bytes at %#x differ from the input", name, s.off)
		}
		got, err := SectionData(img, name)
		if err != nil || !bytes.Equal(got, want[name]) {
			t.Errorf("SectionData(%s): %v", name, err)
		}
	}
	// objdump -s prints a section's contents: the command line must be
	// readable there as text.
	out, err := exec.Command("objdump", "-s", "-j", ".cmdline", path).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -s: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "console=ttyS0,11") {
		t.Errorf("objdump -s -j .cmdline does not show the command line:\n%s", out)
	}
	peOff := int(binary.LittleEndian.Uint32(img[0x3c:]))
	if sum := binary.LittleEndian.Uint32(img[peOff+24+64:]); sum != Checksum(img, peOff+24+64) {
		t.Errorf("header checksum %#x, computed %#x", sum, Checksum(img, peOff+24+64))
	}
	if size := binary.LittleEndian.Uint32(img[peOff+24+56:]); uint64(size) < prevEnd {
		t.Errorf("SizeOfImage %#x ends before the last section (%#x)", size, prevEnd)
	}
}

func TestRejects(t *testing.T) {
	if _, err := AddSections(stub(t), []Section{{".waytoolongname", nil}}); err == nil {
		t.Error("accepted a 15-byte section name")
	}
	if _, err := AddSections([]byte("MZ not a PE at all"), []Section{{".x", nil}}); err == nil {
		t.Error("accepted a non-PE stub")
	}
	many := make([]Section, 200)
	for i := range many {
		many[i] = Section{".s", []byte{1}}
	}
	if _, err := AddSections(stub(t), many); err == nil || !strings.Contains(err.Error(), "no room") {
		t.Errorf("200 sections: %v", err)
	}
}

// TestSignedVerifies signs a UKI with a db key and checks it with
// osslsigncode; a flipped .cmdline byte breaks the signature.
func TestSignedVerifies(t *testing.T) {
	need(t, "osslsigncode")
	_, img := sample(t)
	dir := t.TempDir()
	keys, err := secureboot.Generate(dir, "uki test", secureboot.DefaultBits, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := keys.SignPE(img, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "uki.efi")
	os.WriteFile(good, signed, 0o644)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(dir, "db.crt"), "-in", good).CombinedOutput(); err != nil {
		t.Fatalf("osslsigncode verify: %v\n%s", err, out)
	}
	off, err := SectionOffset(signed, ".cmdline")
	if err != nil {
		t.Fatal(err)
	}
	signed[off] ^= 0x20
	bad := filepath.Join(dir, "bad.efi")
	os.WriteFile(bad, signed, 0o644)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(dir, "db.crt"), "-in", bad).CombinedOutput(); err == nil {
		t.Errorf("osslsigncode verify accepted an edited .cmdline:\n%s", out)
	}
}
