package esp

import (
	"fmt"
	"io"
	"os"
	"path"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/imgbuild/imgbuild/internal/gpt"
)

// ReadFiles returns every regular file of the FAT file system in
// partition partNumber of the disk image at path, keyed by its path from
// the root without a leading slash ("loader/entries/a+3.conf"). It reads
// with go-diskfs, whose FAT32 reader handles long names and is
// independent of our writer.
func ReadFiles(imagePath string, partNumber int) (map[string][]byte, error) {
	f, err := os.Open(imagePath)
	if err != nil {
		return nil, fmt.Errorf("esp: %w", err)
	}
	defer f.Close()
	t, err := gpt.Read(f, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("esp: %s: %w", imagePath, err)
	}
	var p *gpt.Entry
	for _, e := range t.Entries() {
		if e.Number == partNumber {
			p = &e
		}
	}
	if p == nil {
		return nil, fmt.Errorf("esp: %s has no partition %d", imagePath, partNumber)
	}
	start, size := int64(p.FirstLBA)*sectorSize, int64(p.LastLBA-p.FirstLBA+1)*sectorSize
	fs, err := fat32.Read(file.New(f, true), size, start, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("esp: read FAT32 in partition %d: %w", partNumber, err)
	}
	out := map[string][]byte{}
	if err := readFATDir(fs, ".", out); err != nil {
		return nil, fmt.Errorf("esp: partition %d: %w", partNumber, err)
	}
	return out, nil
}

func readFATDir(fs *fat32.FileSystem, dir string, out map[string][]byte) error {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "." || name == ".." {
			continue
		}
		p := path.Join(dir, name) // io/fs form: "." is the root, no leading slash
		if e.IsDir() {
			if err := readFATDir(fs, p, out); err != nil {
				return err
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if fi.Size() == 0 {
			// go-diskfs cannot open an empty file: it has no cluster
			// (start cluster 0), as FAT wants it.
			out[p] = []byte{}
			continue
		}
		r, err := fs.OpenFile(p, os.O_RDONLY)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		// go-diskfs v1.9.4 returns whole sectors past the end of some
		// small files (TestGoDiskfsReadsPastEOF): trust the directory
		// entry's size instead.
		b, err := io.ReadAll(io.LimitReader(r, fi.Size()))
		r.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if int64(len(b)) != fi.Size() {
			return fmt.Errorf("read %s: got %d bytes, its directory entry says %d", p, len(b), fi.Size())
		}
		out[p] = b
	}
	return nil
}

// sectorSize is the disk's and the FAT's sector size.
const sectorSize = 512
