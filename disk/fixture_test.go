package disk

import (
	"bytes"
	"io"
	"time"
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

// testLayout is the docs/layout.md disk with small slots.
func testLayout(espSize int64) Layout {
	seed := "test 1.0"
	usr := bytes.Repeat([]byte("usr-a content "), 50_000)
	return Layout{
		DiskGUID: GUID(seed, "disk"),
		Partitions: []Partition{
			{Number: 1, Label: "EFI-SYSTEM", TypeGUID: TypeESP, GUID: GUID(seed, "EFI-SYSTEM"), Size: espSize,
				Content: func(w io.WriterAt) error {
					return WriteESP(w, espSize, testESPFiles(), 0x1234abcd, "EFI-SYSTEM", testEpoch)
				}},
			{Number: 3, Label: "USR-A", TypeGUID: TypeUSR, GUID: GUID(seed, "USR-A"), Size: 16 * MiB,
				Attributes: USRAttributes(1, 0, true),
				Content: func(w io.WriterAt) error {
					_, err := w.WriteAt(usr, 0)
					return err
				}},
			{Number: 4, Label: "USR-B", TypeGUID: TypeUSR, GUID: GUID(seed, "USR-B"), Size: 16 * MiB},
			{Number: 6, Label: "OEM", TypeGUID: TypeOEM, GUID: GUID(seed, "OEM"), Size: 8 * MiB},
			{Number: 9, Label: "ROOT", TypeGUID: TypeROOT, GUID: GUID(seed, "ROOT"), Size: 32 * MiB},
		},
	}
}
