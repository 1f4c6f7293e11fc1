package release

import (
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/imgbuild/imgbuild/disk"
)

// readESP reads the named files (absent ones are left out) from the FAT
// in partition part. It reads no more than each directory entry's size:
// go-diskfs v1.9.4's File.Read returns whole sectors past the end of
// some small files (a 570-byte file reads as 768 bytes), which would
// break the record's strict parse and every hash.
func readESP(imagePath string, part int, names []string) (map[string][]byte, error) {
	info, err := disk.Read(imagePath)
	if err != nil {
		return nil, err
	}
	p, ok := info.Partition(part)
	if !ok {
		return nil, fmt.Errorf("%s has no partition %d (ESP)", imagePath, part)
	}
	f, err := os.Open(imagePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fs, err := fat32.Read(file.New(f, true), p.Size, p.Start, 512)
	if err != nil {
		return nil, fmt.Errorf("read FAT32 in partition %d (%s): %w", p.Number, p.Label, err)
	}
	out := map[string][]byte{}
	for _, name := range names {
		st, err := fs.Stat(name)
		if err != nil {
			continue // missing
		}
		if st.Size() == 0 {
			out[name] = []byte{}
			continue
		}
		r, err := fs.OpenFile(name, os.O_RDONLY)
		if err != nil {
			return nil, fmt.Errorf("ESP %s: %w", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, st.Size()))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("ESP %s: %w", name, err)
		}
		if int64(len(b)) != st.Size() {
			return nil, fmt.Errorf("ESP %s: read %d bytes, its directory entry says %d", name, len(b), st.Size())
		}
		out[name] = b
	}
	return out, nil
}
