package fat

import (
	"testing"

	"github.com/imgbuild/imgbuild/images/disk"
)

// The long-name checksum is checked by mtools in checkFAT: with a wrong
// one mdir would show the short names.
func TestShortNames(t *testing.T) {
	tests := []struct {
		names []string // one directory, in sorted order
		want  []string // 11-byte short names
		long  []bool
	}{
		{[]string{"BOOTX64.EFI", "EFI", "README"}, []string{"BOOTX64 EFI", "EFI        ", "README     "}, []bool{false, false, false}},
		{[]string{"imgbuild-a+2-1.conf", "imgbuild-a+3.conf"}, []string{"IMGBUI~1CON", "IMGBUI~2CON"}, []bool{true, true}},
		{[]string{"loader", "vmlinuz"}, []string{"LOADER~1   ", "VMLINU~1   "}, []bool{true, true}},
		{[]string{".hidden", "Mixed Case.txt", "a.b.c"}, []string{"HIDDEN~1   ", "MIXEDC~1TXT", "AB~1    C  "}, []bool{true, true, true}},
		// An exact 8.3 name keeps its name even when an alias would take it.
		{[]string{"FOO~1", "foo"}, []string{"FOO~1      ", "FOO~2      "}, []bool{false, true}},
	}
	for _, tt := range tests {
		dir := &node{}
		for _, n := range tt.names {
			dir.children = append(dir.children, &node{name: n, file: &File{}})
		}
		if err := dir.assignShortNames(); err != nil {
			t.Fatal(err)
		}
		for i, c := range dir.children {
			if string(c.short[:]) != tt.want[i] || c.long != tt.long[i] {
				t.Errorf("%q: short %q long %v, want %q %v", c.name, c.short[:], c.long, tt.want[i], tt.long[i])
			}
		}
	}
}

// TestFATGeometry checks every whole-disk.MiB size from the smallest FAT32 to
// 2 GiB: enough clusters to be FAT32, a FAT that covers them all, and a
// data area inside the partition.
func TestFATGeometry(t *testing.T) {
	if _, err := newFATGeometry(32 * disk.MiB); err == nil {
		t.Error("32 disk.MiB accepted, but cannot hold 65525 clusters of 512 bytes")
	}
	for mib := int64(33); mib <= 2048; mib++ {
		g, err := newFATGeometry(mib * disk.MiB)
		if err != nil {
			t.Fatalf("%d disk.MiB: %v", mib, err)
		}
		if g.clusters < 65525 {
			t.Errorf("%d disk.MiB: %d clusters is FAT16", mib, g.clusters)
		}
		if int64(g.fatSectors)*sectorSize/4 < int64(g.clusters)+2 {
			t.Errorf("%d disk.MiB: FAT of %d sectors too small for %d clusters", mib, g.fatSectors, g.clusters)
		}
		if end := g.clusterOffset(g.clusters + 2); end > mib*disk.MiB {
			t.Errorf("%d disk.MiB: data area ends at %d, past the end", mib, end)
		}
	}
}
