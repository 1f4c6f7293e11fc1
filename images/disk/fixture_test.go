package disk

import (
	"bytes"
	"io"
	"time"

	"github.com/imgbuild/imgbuild/internal/fat"
)

var testEpoch = time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)

// testLayout is the docs/layout.md disk with small slots.
func testLayout(espSize int64) Layout {
	usr := bytes.Repeat([]byte("usr-a content "), 50_000)
	return CoreOS("test 1.0", Sizes{ESP: espSize, USR: 16 * MiB, OEM: 8 * MiB, Root: 32 * MiB}, Contents{
		ESP: func(w io.WriterAt) error {
			return fat.Write(w, espSize, []fat.File{{Path: "loader/loader.conf", Data: []byte("timeout 0\n")}}, 0x1234abcd, "EFI-SYSTEM", testEpoch)
		},
		USRA: func(w io.WriterAt) error {
			_, err := w.WriteAt(usr, 0)
			return err
		},
	})
}
