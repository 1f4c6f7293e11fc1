package disk

import (
	"fmt"
	"io"
)

// MiB is the alignment unit of partitions and of the disk size.
const MiB = 1 << 20

const sectorSize = 512

// Partition is one GPT entry and its content.
type Partition struct {
	Number   int    // GPT entry number, 1-128; gaps are allowed
	Label    string // GPT partition name, at most 36 UTF-16 code units
	TypeGUID string
	GUID     string // unique partition GUID; required (see GUID)
	// Start is the byte offset; 0 places the partition right after the
	// previous one in the slice (the first at 1 MiB). Multiple of 1 MiB.
	Start int64
	Size  int64 // bytes, multiple of 1 MiB
	// Attributes are the GPT attribute bits (see USRAttributes).
	Attributes uint64
	// Content writes the partition's content through a WriterAt limited
	// to the partition; nil leaves the partition as a hole (zeros).
	Content func(w io.WriterAt) error
}

// Layout is a whole disk.
type Layout struct {
	DiskGUID   string
	Partitions []Partition
	// Size is the disk size in bytes; 0 means just large enough: the last
	// partition's end plus 1 MiB for the backup GPT. Multiple of 1 MiB.
	Size int64
}

// placed is a validated partition with its final offset.
type placed struct {
	Partition
	guid, typeGUID string
}

// gptReserve is what the primary (MBR, header, 128 entries) and backup
// (entries, header) GPT need: 34 and 33 sectors, rounded to the alignment.
const gptReserve = 1 * MiB

// plan validates l and returns the partitions with their offsets and the
// disk size.
func plan(l Layout) ([]placed, int64, error) {
	if len(l.Partitions) == 0 {
		return nil, 0, fmt.Errorf("disk: layout has no partitions")
	}
	out := make([]placed, 0, len(l.Partitions))
	numbers := map[int]string{}
	next := int64(gptReserve)
	for _, p := range l.Partitions {
		name := fmt.Sprintf("partition %d (%s)", p.Number, p.Label)
		if p.Number < 1 || p.Number > 128 {
			return nil, 0, fmt.Errorf("disk: %s: number must be 1-128", name)
		}
		if other, dup := numbers[p.Number]; dup {
			return nil, 0, fmt.Errorf("disk: %s: number already used by %s", name, other)
		}
		numbers[p.Number] = p.Label
		if len([]rune(p.Label)) > 36 {
			return nil, 0, fmt.Errorf("disk: %s: label longer than 36 characters", name)
		}
		if p.Size <= 0 || p.Size%MiB != 0 {
			return nil, 0, fmt.Errorf("disk: %s: size %d is not a positive multiple of 1 MiB", name, p.Size)
		}
		if p.Start == 0 {
			p.Start = next
		}
		if p.Start%MiB != 0 {
			return nil, 0, fmt.Errorf("disk: %s: start %d is not a multiple of 1 MiB", name, p.Start)
		}
		if p.Start < gptReserve {
			return nil, 0, fmt.Errorf("disk: %s: start %d overlaps the primary GPT", name, p.Start)
		}
		for _, q := range out {
			if p.Start < q.Start+q.Size && q.Start < p.Start+p.Size {
				return nil, 0, fmt.Errorf("disk: %s overlaps partition %d (%s)", name, q.Number, q.Label)
			}
		}
		guid, err := parseGUID(p.GUID)
		if err != nil {
			return nil, 0, fmt.Errorf("disk: %s: unique GUID: %w", name, err)
		}
		typeGUID, err := parseGUID(p.TypeGUID)
		if err != nil {
			return nil, 0, fmt.Errorf("disk: %s: type GUID: %w", name, err)
		}
		out = append(out, placed{Partition: p, guid: guid, typeGUID: typeGUID})
		next = max(next, p.Start+p.Size)
	}
	size := next + gptReserve
	if l.Size != 0 {
		if l.Size%MiB != 0 {
			return nil, 0, fmt.Errorf("disk: size %d is not a multiple of 1 MiB", l.Size)
		}
		if l.Size < size {
			return nil, 0, fmt.Errorf("disk: size %d too small, the partitions need %d", l.Size, size)
		}
		size = l.Size
	}
	return out, size, nil
}
