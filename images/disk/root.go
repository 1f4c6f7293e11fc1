package disk

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/ext4"
)

// ext4Magic is at byte 1080 of the file system: the superblock's
// s_magic, 0xEF53 little endian.
var ext4Magic = []byte{0x53, 0xef}

// OpenROOT opens the ext4 file system on the ROOT partition of the disk
// image at path for reading, without mounting it (package ext4 reads
// it: go-diskfs cannot, see there).
// Close the returned closer when done with the file system.
func OpenROOT(path string) (fs.ReadDirFS, io.Closer, error) {
	info, err := Read(path)
	if err != nil {
		return nil, nil, err
	}
	p, ok := info.Partition(contract.ROOT.Number)
	if !ok || p.TypeGUID != contract.TypeROOT {
		return nil, nil, fmt.Errorf("disk: %s has no ROOT partition (number %d, type %s)", path, contract.ROOT.Number, contract.TypeROOT)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("disk: %w", err)
	}
	magic := make([]byte, 2)
	if _, err := f.ReadAt(magic, p.Start+1080); err != nil || !bytes.Equal(magic, ext4Magic) {
		f.Close()
		return nil, nil, fmt.Errorf("disk: %s: ROOT holds no ext4 file system yet: stage-1 makes it on the first boot", path)
	}
	fsys, err := ext4.Open(io.NewSectionReader(f, p.Start, p.Size))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("disk: %s: read ROOT's ext4: %w", path, err)
	}
	return fsys, f, nil
}
