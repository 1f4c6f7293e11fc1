package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/imgbuild/imgbuild/internal/gpt"
)

// TestFirstBootOnFile runs stage-1's first-boot work on a disk image that
// was enlarged after sgdisk made it: grow ROOT, format it, then check
// both with the reference tools.
func TestFirstBootOnFile(t *testing.T) {
	p := tempPath(t, "disk.img")
	makeTestDisk(t, p, 64<<20)
	const newSize = 300 << 20
	if err := os.Truncate(p, newSize); err != nil {
		t.Fatal(err)
	}
	disk, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	var told []gpt.Entry
	g, grew, err := growRoot(disk, 512, testRoot, func(e gpt.Entry) error { told = append(told, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !grew || len(told) != 1 || told[0] != g.Entry || g.Entry.Unique.String() != testRoot {
		t.Fatalf("grew=%v told=%v entry=%+v", grew, told, g.Entry)
	}
	wantLast := uint64(newSize/512 - 34)
	if g.Entry.LastLBA != wantLast {
		t.Errorf("ROOT ends at %d, want %d", g.Entry.LastLBA, wantLast)
	}
	if out := runTool(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	if out := runTool(t, "sgdisk", "-i", "9", p); !strings.Contains(out, "Last sector: "+strconv.FormatUint(wantLast, 10)+" ") ||
		!strings.Contains(out, strings.ToUpper(testRoot)) {
		t.Errorf("sgdisk -i 9:\n%s", out)
	}

	// A second call sees nothing to do and does not bother the kernel.
	_, grew, err = growRoot(disk, 512, testRoot, func(gpt.Entry) error { t.Error("notified again"); return nil })
	if err != nil || grew {
		t.Fatalf("second grow: grew=%v err=%v", grew, err)
	}

	start := int64(g.Entry.FirstLBA) * 512
	size := int64(g.Entry.LastLBA-g.Entry.FirstLBA+1) * 512
	if _, err := mkfsExt4(disk, start, size, uuid.MustParse(testRoot), "ROOT"); err != nil {
		t.Fatal(err)
	}
	part := tempPath(t, "root.img")
	pf, _ := os.Create(part)
	io.Copy(pf, io.NewSectionReader(disk, start, size))
	pf.Close()
	if out, ok := e2fsckClean(part); !ok {
		t.Errorf("e2fsck -fn ROOT:\n%s", out)
	}
	// Formatting ROOT must not touch the GPT.
	if out := runTool(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v after mkfs:\n%s", out)
	}
}

func TestGrowRootRefusesWhenRootIsNotLast(t *testing.T) {
	p := tempPath(t, "disk.img")
	makeTestDisk(t, p, 64<<20)
	disk, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer disk.Close()
	_, _, err := growRoot(disk, 512, testUSR, func(gpt.Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not the last partition") {
		t.Fatalf("err %v", err)
	}
}
