package fat

import (
	"bytes"
	"io"
	"time"

	"github.com/imgbuild/imgbuild/images/disk"
)

var testEpoch = time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)

// testESPFiles mixes 8.3 names, long names, nested directories, an empty
// file and a file spanning many clusters.
func testESPFiles() []File {
	big := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB
	return []File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("not really an EFI binary\n")},
		{Path: "loader/loader.conf", Data: []byte("timeout 0\neditor no\n")},
		{Path: "loader/entries/imgbuild-a+3.conf", Data: []byte("title a\nlinux /imgbuild/a/vmlinuz\n")},
		{Path: "loader/entries/a-very-long-boot-entry-name-that-needs-several-lfn-slots.conf", Data: []byte("x\n")},
		{Path: "imgbuild/a/vmlinuz", Data: big},
		{Path: "imgbuild/a/initrd", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(big[:12345])), nil }, Size: 12345},
		{Path: "imgbuild/b/Mixed Case.txt", Data: []byte("spaces and case\n"), ModTime: testEpoch.Add(-time.Hour)},
		{Path: "imgbuild/b/empty", Data: nil},
		{Path: "README", Data: []byte("root file\n")},
	}
}

// testImage is a disk with the test ESP as partition 1 and an empty
// partition 2 after it.
func testImage(espSize int64) disk.Layout {
	return disk.Layout{
		DiskGUID: disk.GUID("esp test", "disk"),
		Partitions: []disk.Partition{
			{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP, GUID: disk.GUID("esp test", "EFI-SYSTEM"), Size: espSize,
				Content: Content(espSize, testESPFiles(), 0x1234abcd, "EFI-SYSTEM", testEpoch)},
			{Number: 2, Label: "OEM", TypeGUID: disk.TypeOEM, GUID: disk.GUID("esp test", "OEM"), Size: 8 * disk.MiB},
		},
	}
}
