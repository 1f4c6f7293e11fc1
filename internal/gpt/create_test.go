package gpt

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCreateMatchesSgdisk writes one partition filling a disk, as stage-1
// does on a blank PXE root disk, and has sgdisk check and describe it.
func TestCreateMatchesSgdisk(t *testing.T) {
	const size = 100<<20 + 3*512 // not a whole MiB: the end is not aligned
	p := filepath.Join(t.TempDir(), "blank.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	root := parts[4]
	tab, err := Create(f, 512, size/512, diskGUID, []New{{Type: root.typ, Unique: root.guid, Name: root.label}})
	if err != nil {
		t.Fatal(err)
	}
	if out := sgdisk(t, "-v", p); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	wantLast := uint64(size/512 - 34)
	info := sgdisk(t, "-i", "1", p)
	for _, want := range []string{
		"Partition GUID code: " + root.typ, "Partition unique GUID: " + strings.ToUpper(root.guid),
		"First sector: 2048 ", "Last sector: " + strconv.FormatUint(wantLast, 10) + " ", "Partition name: '" + root.label + "'",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("sgdisk -i 1 lacks %q:\n%s", want, info)
		}
	}
	if out := sgdisk(t, "-p", p); !strings.Contains(out, "Disk identifier (GUID): "+strings.ToUpper(diskGUID)) {
		t.Errorf("sgdisk -p:\n%s", out)
	}
	back := readTable(t, p)
	if got := back.Entries(); len(got) != 1 || got[0] != tab.Entries()[0] || got[0].Name != root.label || got[0].LastLBA != wantLast {
		t.Errorf("read back %+v, created %+v", got, tab.Entries())
	}
}

func TestCreateRefuses(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "d.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok := New{Type: parts[4].typ, Unique: parts[4].guid, Name: "ROOT"}
	for name, tc := range map[string]struct {
		sectors uint64
		parts   []New
		want    string
	}{
		"tiny disk":   {100, []New{ok}, "too small"},
		"bad GUID":    {1 << 16, []New{{Type: "nope", Unique: parts[4].guid}}, "type"},
		"long name":   {1 << 16, []New{{Type: ok.Type, Unique: ok.Unique, Name: strings.Repeat("x", 37)}}, "longer than 36"},
		"past end":    {1 << 16, []New{{Type: ok.Type, Unique: ok.Unique, FirstLBA: 2048, LastLBA: 1 << 16}}, "outside the free area"},
		"overlapping": {1 << 16, []New{{Type: ok.Type, Unique: ok.Unique, LastLBA: 4095}, {Type: ok.Type, Unique: ok.Unique, FirstLBA: 4000}}, "outside the free area"},
	} {
		if _, err := Create(f, 512, tc.sectors, diskGUID, tc.parts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}
