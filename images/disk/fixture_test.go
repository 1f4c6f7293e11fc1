package disk

import (
	"bytes"
	"io"
	"time"

	"github.com/imgbuild/imgbuild/images/esp"
)

var testEpoch = time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)

// testLayout is the docs/layout.md disk with small slots.
func testLayout(espSize int64) Layout {
	seed := "test 1.0"
	usr := bytes.Repeat([]byte("usr-a content "), 50_000)
	return Layout{
		DiskGUID: GUID(seed, "disk"),
		Partitions: []Partition{
			{Number: 1, Label: "EFI-SYSTEM", TypeGUID: TypeESP, GUID: GUID(seed, "EFI-SYSTEM"), Size: espSize,
				Content: func(w io.WriterAt) error {
					return esp.Write(w, espSize, []esp.File{{Path: "loader/loader.conf", Data: []byte("timeout 0\n")}}, 0x1234abcd, "EFI-SYSTEM", testEpoch)
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
