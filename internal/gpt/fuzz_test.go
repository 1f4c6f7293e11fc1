package gpt

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/imgbuild/imgbuild/internal/gpt/gpttest"
)

// seedTable is the primary half (MBR, header, entry array) of a table
// Create writes, cut to its first 4 entries (CRCs fixed): what Read
// reads, small enough that mutation and minimizing stay fast.
func seedTable(f *testing.F, parts []New) []byte {
	const disk = 8192 // sectors: Create wants room for 1 MiB alignment
	buf := make(gpttest.Disk, disk*512)
	if _, err := Create(buf, 512, disk, diskGUID, parts); err != nil {
		f.Fatal(err)
	}
	seed := buf[:3*512]
	binary.LittleEndian.PutUint32(seed[512+80:], 4)
	gpttest.FixCRCs(seed)
	return seed
}

func FuzzRead(f *testing.F) {
	f.Add(seedTable(f, nil))
	f.Add(seedTable(f, []New{
		{Type: parts[0].typ, Unique: parts[0].guid, Name: parts[0].label, LastLBA: 4096},
		{Type: parts[4].typ, Unique: parts[4].guid, Name: parts[4].label},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Half the inputs get their CRCs fixed, or mutation would
		// rarely get past the checksums to the fields they cover.
		if len(data) > 0 && data[0]&1 == 1 {
			gpttest.FixCRCs(data)
		}
		tab, err := Read(bytes.NewReader(data), 512)
		if err != nil {
			return
		}
		// The entry array was read whole, so it bounds what Read took in.
		if n := int64(tab.Header.NumEntries) * int64(tab.Header.EntrySize); n > maxEntriesBytes {
			t.Fatalf("accepted %d bytes of entries", n)
		}
		for _, e := range tab.Entries() {
			if e.Number < 1 || e.Number > int(tab.Header.NumEntries) || e.Type.IsZero() || e.LastLBA < e.FirstLBA {
				t.Errorf("entry %+v of a table of %d", e, tab.Header.NumEntries)
			}
		}
		_, _ = tab.Last()
	})
}
