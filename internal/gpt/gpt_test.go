package gpt

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

	"github.com/imgbuild/imgbuild/internal/gpt/gpttest"
)

// Fixed identities, as the image builder sets them (sgdisk -u / -U).
var (
	diskGUID = "6b1f5c2e-0d3a-4c55-9e1a-2b8f4a7c9d01"
	parts    = []struct {
		num         int
		size, typ   string
		label, guid string
	}{
		{1, "+8M", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI-SYSTEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01"},
		{3, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-A", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"},
		{4, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-B", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b04"},
		{6, "+4M", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "OEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b06"},
		{9, "+8M", "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ROOT", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"},
	}
)

func sgdisk(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("sgdisk", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk %v: %v\n%s (sgdisk from gdisk is needed for this test)", args, err, out)
	}
	return string(out)
}

// makeDisk writes the layout.md table into a sparse file of size bytes.
func makeDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", "-U", diskGUID}
	for _, pt := range parts {
		n := strconv.Itoa(pt.num)
		args = append(args, "-n", n+":0:"+pt.size, "-t", n+":"+pt.typ, "-c", n+":"+pt.label, "-u", n+":"+pt.guid)
	}
	// attribute bits on USR-A must survive the rewrite too
	args = append(args, "-A", "3:set:48", "-A", "3:set:56", p)
	sgdisk(t, args...)
	return p
}

func readTable(t *testing.T, p string) *Table {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := Read(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestReadMatchesSgdisk(t *testing.T) {
	p := makeDisk(t, 64<<20)
	tab := readTable(t, p)
	if got := tab.Header.DiskGUID.String(); got != diskGUID {
		t.Errorf("disk GUID %s, want %s", got, diskGUID)
	}
	entries := tab.Entries()
	if len(entries) != len(parts) {
		t.Fatalf("%d entries, want %d", len(entries), len(parts))
	}
	for i, e := range entries {
		if e.Number != parts[i].num || e.Unique.String() != parts[i].guid || e.Name != parts[i].label {
			t.Errorf("entry %d: number %d GUID %s name %q, want %d %s %q", i, e.Number, e.Unique, e.Name, parts[i].num, parts[i].guid, parts[i].label)
		}
		info := sgdisk(t, "-i", strconv.Itoa(e.Number), p)
		first := regexp.MustCompile(`First sector: (\d+)`).FindStringSubmatch(info)
		last := regexp.MustCompile(`Last sector: (\d+)`).FindStringSubmatch(info)
		if first == nil || last == nil || first[1] != strconv.FormatUint(e.FirstLBA, 10) || last[1] != strconv.FormatUint(e.LastLBA, 10) {
			t.Errorf("entry %d: LBAs %d-%d, sgdisk says %v %v", e.Number, e.FirstLBA, e.LastLBA, first, last)
		}
	}
}

func TestGrowLast(t *testing.T) {
	const oldSize, newSize = 64 << 20, 200 << 20
	p := makeDisk(t, oldSize)
	before := sgdisk(t, "-p", p)
	if err := os.Truncate(p, newSize); err != nil {
		t.Fatal(err)
	}
	tab := readTable(t, p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tab.GrowLast(f, newSize/512)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantLast := uint64(newSize/512 - 1 - 32 - 1)
	if g.Entry.Number != 9 || g.Entry.LastLBA != wantLast || g.OldLastLBA >= wantLast {
		t.Errorf("grew %+v, want partition 9 ending at %d", g, wantLast)
	}

	verify := sgdisk(t, "-v", p)
	if !strings.Contains(verify, "No problems found") {
		t.Errorf("sgdisk -v after grow:\n%s", verify)
	}
	info := sgdisk(t, "-i", "9", p)
	if !strings.Contains(info, "Last sector: "+strconv.FormatUint(wantLast, 10)+" ") {
		t.Errorf("sgdisk -i 9 does not show last sector %d:\n%s", wantLast, info)
	}
	after := sgdisk(t, "-p", p)
	if !strings.Contains(after, "Disk identifier (GUID): "+strings.ToUpper(diskGUID)) {
		t.Errorf("disk GUID changed:\n%s", after)
	}
	for _, pt := range parts {
		info := sgdisk(t, "-i", strconv.Itoa(pt.num), p)
		if !strings.Contains(info, "Partition unique GUID: "+strings.ToUpper(pt.guid)) ||
			!strings.Contains(info, "Partition name: '"+pt.label+"'") {
			t.Errorf("partition %d lost its identity:\n%s", pt.num, info)
		}
	}
	if info := sgdisk(t, "-A", "3:show", p); !strings.Contains(info, "48") || !strings.Contains(info, "56") {
		t.Errorf("USR-A attribute bits lost: %s", info)
	}
	if before == after {
		t.Errorf("sgdisk -p unchanged after grow")
	}
	tab = readTable(t, p)
	if tab.Header.BackupLBA != newSize/512-1 {
		t.Errorf("backup LBA %d, want %d", tab.Header.BackupLBA, newSize/512-1)
	}
}

func TestGrowRefusesShrink(t *testing.T) {
	p := makeDisk(t, 64<<20)
	tab := readTable(t, p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tab.GrowLast(f, 32<<20/512); err == nil {
		t.Fatal("grow onto a smaller disk succeeded")
	}
}

func TestReadRejectsCorruptHeader(t *testing.T) {
	p := makeDisk(t, 64<<20)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xff}, 512+40); err != nil { // first usable LBA
		t.Fatal(err)
	}
	if _, err := Read(f, 512); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("Read of corrupt header: %v, want CRC error", err)
	}
	blank := filepath.Join(t.TempDir(), "blank")
	os.WriteFile(blank, make([]byte, 4096), 0o644)
	bf, _ := os.Open(blank)
	defer bf.Close()
	if _, err := Read(bf, 512); err != ErrNoGPT {
		t.Fatalf("Read of blank disk: %v, want ErrNoGPT", err)
	}
}

// TestReadRejectsReversedPartition: an entry that ends before it starts
// passed Read, and stage-1 sized a buffer by its negative length.
func TestReadRejectsReversedPartition(t *testing.T) {
	const disk = 8192
	buf := make(gpttest.Disk, disk*512)
	if _, err := Create(buf, 512, disk, diskGUID, []New{{Type: parts[4].typ, Unique: parts[4].guid, Name: "ROOT"}}); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(buf[2*512+40:], 5) // last LBA, before the first (2048)
	gpttest.FixCRCs(buf)
	_, err := Read(bytes.NewReader(buf), 512)
	if err == nil || !strings.Contains(err.Error(), "before it starts") {
		t.Fatalf("Read of a reversed partition: %v", err)
	}
}
