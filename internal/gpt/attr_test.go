package gpt

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestSetAttributesMatchesSgdisk(t *testing.T) {
	p := makeDisk(t, 64<<20)
	tab := readTable(t, p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// priority 2, tries 3, not successful on USR-B; USR-A keeps
	// successful with priority 1 (bits 48 and 56).
	want := map[int]uint64{3: 1<<48 | 1<<56, 4: 2<<48 | 3<<52}
	err = tab.SetAttributes(f, want)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v := sgdisk(t, "-v", p); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v after SetAttributes:\n%s", v)
	}
	for n, a := range want {
		info := sgdisk(t, "-i", fmt.Sprint(n), p)
		if !strings.Contains(info, fmt.Sprintf("Attribute flags: %016X", a)) {
			t.Errorf("partition %d: want attribute flags %016X:\n%s", n, a, info)
		}
	}
	// The backup must carry the same bits: wipe the primary and let
	// sgdisk recover from the backup.
	f, _ = os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt(make([]byte, 512), 512)
	f.Close()
	if info := sgdisk(t, "-i", "4", p); !strings.Contains(info, fmt.Sprintf("Attribute flags: %016X", want[4])) {
		t.Errorf("backup GPT lacks the new bits:\n%s", info)
	}
}

func TestSetAttributesRefusesUnused(t *testing.T) {
	p := makeDisk(t, 64<<20)
	tab := readTable(t, p)
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer f.Close()
	if err := tab.SetAttributes(f, map[int]uint64{2: 1}); err == nil {
		t.Error("set attributes of an unused entry succeeded")
	}
}
