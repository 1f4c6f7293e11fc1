package disk

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/reftool"
)

// sgdiskEntry is what `sgdisk -i N` says about one partition.
type sgdiskEntry struct {
	typeGUID, guid, name string
	first, last          int64
	attrs                uint64
}

func sgdiskInfo(t *testing.T, img string, n int) sgdiskEntry {
	t.Helper()
	out := reftool.Must(t, "sgdisk", "-i", strconv.Itoa(n), img)
	field := func(re string) string {
		m := regexp.MustCompile(`(?m)^` + re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("sgdisk -i %d: no %q in\n%s", n, re, out)
		}
		return m[1]
	}
	num := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	attrs, err := strconv.ParseUint(field(`Attribute flags: ([0-9A-Fa-f]+)`), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return sgdiskEntry{
		typeGUID: strings.ToLower(field(`Partition GUID code: (\S+)`)),
		guid:     strings.ToLower(field(`Partition unique GUID: (\S+)`)),
		name:     field(`Partition name: '(.*)'`),
		first:    num(field(`First sector: (\d+)`)),
		last:     num(field(`Last sector: (\d+)`)),
		attrs:    attrs,
	}
}

func TestWriteAgreesWithSgdisk(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	l := testLayout(96 * MiB)
	if err := Write(img, l); err != nil {
		t.Fatal(err)
	}
	info, err := Read(img)
	if err != nil {
		t.Fatal(err)
	}
	if info.DiskGUID != l.DiskGUID {
		t.Errorf("Read disk GUID %s, want %s", info.DiskGUID, l.DiskGUID)
	}
	p := reftool.Must(t, "sgdisk", "-p", img)
	if !strings.Contains(strings.ToLower(p), "disk identifier (guid): "+l.DiskGUID) {
		t.Errorf("sgdisk -p does not show disk GUID %s:\n%s", l.DiskGUID, p)
	}
	rows := regexp.MustCompile(`(?m)^\s+(\d+)\s+(\d+)\s+(\d+)\s.*\s(\S+)$`).FindAllStringSubmatch(p, -1)
	if len(rows) != len(l.Partitions) {
		t.Fatalf("sgdisk -p lists %d partitions, want %d:\n%s", len(rows), len(l.Partitions), p)
	}

	start := int64(MiB)
	for i, want := range l.Partitions {
		wantFirst, wantLast := start/512, (start+want.Size)/512-1
		start += want.Size
		if got := rows[i][1] + " " + rows[i][2] + " " + rows[i][3] + " " + rows[i][4]; got != fmt.Sprintf("%d %d %d %s", want.Number, wantFirst, wantLast, want.Label) {
			t.Errorf("sgdisk -p row %q, want number %d sectors %d-%d name %s", got, want.Number, wantFirst, wantLast, want.Label)
		}
		got := sgdiskInfo(t, img, want.Number)
		wantEntry := sgdiskEntry{typeGUID: want.TypeGUID, guid: want.GUID, name: want.Label, first: wantFirst, last: wantLast, attrs: want.Attributes}
		if got != wantEntry {
			t.Errorf("sgdisk -i %d = %+v, want %+v", want.Number, got, wantEntry)
		}
		r, ok := info.Partition(want.Number)
		wantRead := PartitionInfo{Number: want.Number, Label: want.Label, TypeGUID: want.TypeGUID, GUID: want.GUID,
			Start: wantFirst * 512, Size: want.Size, Attributes: want.Attributes}
		if !ok || r != wantRead {
			t.Errorf("Read partition %d = %+v, want %+v", want.Number, r, wantRead)
		}
	}
	for _, unused := range []int{2, 5, 7, 8} {
		if out, _ := reftool.Run(t, "sgdisk", "-i", strconv.Itoa(unused), img); !strings.Contains(out, "does not exist") {
			t.Errorf("sgdisk -i %d: want an unused entry, got\n%s", unused, out)
		}
	}
	if out := reftool.Must(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}

	// USR-A's content sits at its offset; the USR-B hole reads as zeros.
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	usrA, _ := info.Partition(3)
	var want bytes.Buffer
	if err := l.Partitions[1].Content(&bufferAt{&want}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[usrA.Start:usrA.Start+int64(want.Len())], want.Bytes()) {
		t.Error("USR-A content not found at the partition's start")
	}
	usrB, _ := info.Partition(4)
	if !bytes.Equal(raw[usrB.Start:usrB.Start+usrB.Size], make([]byte, usrB.Size)) {
		t.Error("USR-B is not all zeros")
	}
}

// bufferAt collects sequential WriteAt calls starting at 0.
type bufferAt struct{ b *bytes.Buffer }

func (w *bufferAt) WriteAt(p []byte, off int64) (int, error) {
	if off != int64(w.b.Len()) {
		return 0, fmt.Errorf("non-sequential write at %d", off)
	}
	return w.b.Write(p)
}

func TestWriteIsDeterministicAndSparse(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	for _, p := range []string{a, b} {
		if err := Write(p, testLayout(96*MiB)); err != nil {
			t.Fatal(err)
		}
	}
	ba, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ba, bb) {
		t.Fatal("two writes of the same layout differ")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(a, &st); err != nil {
		t.Fatal(err)
	}
	allocated := st.Blocks * 512
	// Content: ~1.6 MB of ESP files, 700 kB of USR-A, the FATs and GPTs.
	if allocated > 8*MiB || allocated >= st.Size/10 {
		t.Errorf("image of %d bytes has %d bytes allocated: not sparse", st.Size, allocated)
	}
	t.Logf("image %d bytes, %d allocated", st.Size, allocated)
}

func TestWriteErrors(t *testing.T) {
	base := func() Layout { return testLayout(96 * MiB) }
	tests := []struct {
		name   string
		change func(*Layout)
		want   string
	}{
		{"content past end", func(l *Layout) {
			l.Partitions[3].Content = func(w io.WriterAt) error { _, err := w.WriteAt(make([]byte, 2), 8*MiB-1); return err }
		}, "OEM"},
		{"ESP files too large", func(l *Layout) {
			l.Partitions[0].Content = func(w io.WriterAt) error {
				return fat.Write(w, 96*MiB, []fat.File{{Path: "huge", Size: 100 * MiB, Open: nil, Data: make([]byte, 100*MiB)}}, 1, "", testEpoch)
			}
		}, "huge"},
		{"misaligned size", func(l *Layout) { l.Partitions[2].Size = 16*MiB + 512 }, "USR-B"},
		{"misaligned start", func(l *Layout) { l.Partitions[2].Start = 200*MiB + 4096 }, "USR-B"},
		{"overlap", func(l *Layout) { l.Partitions[4].Start = 120 * MiB }, "overlaps"},
		{"over primary GPT", func(l *Layout) { l.Partitions[0].Start = 0; l.Partitions[0].Start = -MiB }, "EFI-SYSTEM"},
		{"duplicate number", func(l *Layout) { l.Partitions[2].Number = 3 }, "already used"},
		{"missing GUID", func(l *Layout) { l.Partitions[4].GUID = "" }, "ROOT"},
		{"missing disk GUID", func(l *Layout) { l.DiskGUID = "" }, "disk GUID"},
		{"disk too small", func(l *Layout) { l.Size = 100 * MiB }, "too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := base()
			tt.change(&l)
			img := filepath.Join(t.TempDir(), "disk.img")
			err := Write(img, l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write error %v, want one naming %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(filepath.Dir(img)); len(entries) != 0 {
				t.Errorf("failed Write left %v behind", entries)
			}
		})
	}
}
