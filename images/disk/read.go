package disk

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Info is what Read finds in a disk image's GPT. GUIDs are lower case.
type Info struct {
	Size       int64
	DiskGUID   string
	Partitions []PartitionInfo // by number
}

// PartitionInfo is one used GPT entry.
type PartitionInfo struct {
	Number     int
	Label      string
	TypeGUID   string
	GUID       string
	Start      int64 // bytes
	Size       int64 // bytes
	Attributes uint64
}

// Partition returns the entry with the given number.
func (i *Info) Partition(number int) (PartitionInfo, bool) {
	for _, p := range i.Partitions {
		if p.Number == number {
			return p, true
		}
	}
	return PartitionInfo{}, false
}

// Read reads the GPT of the disk image at path (the backup if the primary
// is damaged).
func Read(path string) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	t, err := gpt.Read(file.New(f, true), sectorSize, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("disk: read GPT of %s: %w", path, err)
	}
	info := &Info{Size: st.Size(), DiskGUID: strings.ToLower(t.GUID)}
	for _, p := range t.Partitions {
		if p == nil || p.Type == gpt.Unused {
			continue
		}
		info.Partitions = append(info.Partitions, PartitionInfo{
			Number:     p.Index,
			Label:      p.Name,
			TypeGUID:   strings.ToLower(string(p.Type)),
			GUID:       strings.ToLower(p.GUID),
			Start:      int64(p.Start) * sectorSize,
			Size:       int64(p.End-p.Start+1) * sectorSize,
			Attributes: p.Attributes,
		})
	}
	sort.Slice(info.Partitions, func(a, b int) bool { return info.Partitions[a].Number < info.Partitions[b].Number })
	return info, nil
}
