//go:build linux

package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTree builds /sys/block and /dev for one disk whose node is a disk
// image; nodes lists the kernel partition names to create.
func fakeTree(t *testing.T, disk string, nodes map[string]int) Tree {
	t.Helper()
	root := t.TempDir()
	bt := Tree{Sys: filepath.Join(root, "sys/block"), Dev: filepath.Join(root, "dev"), SectorSize: SectorSize}
	for _, d := range []string{bt.Dev, filepath.Join(bt.Sys, disk)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	makeTestDisk(t, filepath.Join(bt.Dev, disk), 64<<20)
	for name, n := range nodes {
		dir := filepath.Join(bt.Sys, disk, name)
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "partition"), []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Things a scan must skip or survive: a loop device and a disk
	// without a GPT.
	os.MkdirAll(filepath.Join(bt.Sys, "loop0"), 0o755)
	os.MkdirAll(filepath.Join(bt.Sys, "vdb"), 0o755)
	os.WriteFile(filepath.Join(bt.Dev, "vdb"), make([]byte, 1<<20), 0o644)
	return bt
}

func TestScanMapsPartitionsToNodes(t *testing.T) {
	tests := []struct {
		disk  string
		nodes map[string]int
		want  map[string]string // PARTUUID -> node
	}{
		{"vda", map[string]int{"vda1": 1, "vda3": 3, "vda4": 4, "vda6": 6, "vda9": 9},
			map[string]string{testUSR: "vda3", testRoot: "vda9"}},
		{"nvme0n1", map[string]int{"nvme0n1p3": 3, "nvme0n1p9": 9, "power": 0},
			map[string]string{testUSR: "nvme0n1p3", testRoot: "nvme0n1p9"}},
		// sysfs order and names do not matter, only the partition file
		{"sda", map[string]int{"sda9": 3, "sda3": 9},
			map[string]string{testUSR: "sda9", testRoot: "sda3"}},
	}
	for _, tt := range tests {
		t.Run(tt.disk, func(t *testing.T) {
			bt := fakeTree(t, tt.disk, tt.nodes)
			found, err := bt.Scan()
			if err != nil {
				t.Fatal(err)
			}
			for uuid, node := range tt.want {
				p, ok := found[uuid]
				if !ok {
					t.Fatalf("%s not found in %v", uuid, found)
				}
				if p.Node != filepath.Join(bt.Dev, node) || p.Disk != filepath.Join(bt.Dev, tt.disk) {
					t.Errorf("%s: dev %s disk %s, want node %s", uuid, p.Node, p.Disk, node)
				}
				if p.Number != p.Entry.Number || p.UUID != uuid {
					t.Errorf("%s: inconsistent %+v", uuid, p)
				}
			}
		})
	}
}

func TestWaitForTimesOutNamingTheMissingPartition(t *testing.T) {
	bt := fakeTree(t, "vda", map[string]int{"vda3": 3}) // kernel has no vda9
	start := time.Now()
	_, err := bt.WaitFor([]string{testUSR, testRoot}, 200*time.Millisecond, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), testRoot) || strings.Contains(err.Error(), testUSR) {
		t.Fatalf("err %v, want one naming only %s", err, testRoot)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
}

func TestWaitForSeesLatePartition(t *testing.T) {
	bt := fakeTree(t, "vda", map[string]int{"vda3": 3})
	go func() {
		time.Sleep(100 * time.Millisecond)
		dir := filepath.Join(bt.Sys, "vda", "vda9")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "partition"), []byte("9\n"), 0o644)
	}()
	found, err := bt.WaitFor([]string{testUSR, testRoot}, 5*time.Second, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if found[testRoot].Node != filepath.Join(bt.Dev, "vda9") {
		t.Errorf("ROOT at %s", found[testRoot].Node)
	}
}

// testPart is a partition of the layout.md table with a fixed GUID.
type testPart struct {
	num              int
	size, typ, label string
	guid             string
}

var testLayout = []testPart{
	{1, "+8M", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI-SYSTEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01"},
	{3, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-A", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"},
	{4, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-B", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b04"},
	{6, "+4M", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "OEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b06"},
	{9, "+8M", "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ROOT", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"},
}

const (
	testUSR  = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"
	testRoot = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"
)

// makeTestDisk writes testLayout with sgdisk (a reference tool CI
// installs) into a sparse file at path.
func makeTestDisk(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", "-U", "6b1f5c2e-0d3a-4c55-9e1a-2b8f4a7c9d01"}
	for _, p := range testLayout {
		n := strconv.Itoa(p.num)
		args = append(args, "-n", n+":0:"+p.size, "-t", n+":"+p.typ, "-c", n+":"+p.label, "-u", n+":"+p.guid)
	}
	if out, err := exec.Command("sgdisk", append(args, path)...).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk (package gdisk) %v: %v\n%s", args, err, out)
	}
}
