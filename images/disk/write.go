package disk

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Write creates the disk image at path: a sparse file of the layout's
// size with a protective MBR, primary and backup GPT carrying exactly the
// given GUIDs, and each partition's content. It writes to a temporary file
// next to path and renames it on success, so a failed build never leaves
// a half-written image where a good one was.
func Write(path string, l Layout) (err error) {
	parts, size, err := plan(l)
	if err != nil {
		return err
	}
	diskGUID, err := parseGUID(l.DiskGUID)
	if err != nil {
		return fmt.Errorf("disk: disk GUID: %w", err)
	}
	err = fsutil.Write(path, 0o644, func(f *os.File) error {
		return fill(f, size, diskGUID, parts)
	})
	if err != nil {
		return fmt.Errorf("disk: %s: %w", path, err)
	}
	return nil
}

// fill writes the GPTs and every partition's content into f.
func fill(f *os.File, size int64, diskGUID string, parts []placed) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("size image: %w", err)
	}
	if err := writeGPT(f, size, diskGUID, parts); err != nil {
		return err
	}
	for _, p := range parts {
		if p.Content == nil {
			continue
		}
		w := &partitionWriter{f: f, off: p.Start, size: p.Size, name: p.Label}
		if err := p.Content(w); err != nil {
			return fmt.Errorf("partition %d (%s): %w", p.Number, p.Label, err)
		}
	}
	return nil
}

// writeGPT writes the protective MBR and both GPTs with go-diskfs, which
// writes unused entries (our gaps 2, 5, 7, 8) as zeros and fills in only
// the GUIDs we leave empty, which plan never does.
func writeGPT(f *os.File, size int64, diskGUID string, parts []placed) error {
	t := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		GUID:               diskGUID,
		ProtectiveMBR:      true,
	}
	for _, p := range parts {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index:      p.Number,
			Start:      uint64(p.Start / sectorSize),
			End:        uint64((p.Start+p.Size)/sectorSize - 1),
			Size:       uint64(p.Size),
			Type:       gpt.Type(p.typeGUID),
			Name:       p.Label,
			GUID:       p.guid,
			Attributes: p.Attributes,
		})
	}
	if err := t.Write(f, size); err != nil {
		return fmt.Errorf("write GPT: %w", err)
	}
	return nil
}

// partitionWriter confines a partition's content to its extent.
type partitionWriter struct {
	f    *os.File
	off  int64
	size int64
	name string
}

func (w *partitionWriter) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > w.size {
		return 0, fmt.Errorf("write of %d bytes at %d goes past the end of partition %s (%d bytes)", len(b), off, w.name, w.size)
	}
	return w.f.WriteAt(b, w.off+off)
}
