package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/gpt"
)

// blankFile is a sparse all-zero disk image of size bytes.
func blankFile(t *testing.T, size int64) (string, *os.File) {
	t.Helper()
	p := tempPath(t, "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p, f
}

func inspectFile(t *testing.T, f *os.File) (rootDisk, error) {
	t.Helper()
	size, err := deviceSize(f)
	if err != nil {
		t.Fatal(err)
	}
	return inspectRootDisk(f, size, 512)
}

// checkROOTFilesystem checks with the reference tools that partition
// number of the disk image p is a clean ext4 whose UUID is the
// partition's GUID, and that the GPT is sound.
func checkROOTFilesystem(t *testing.T, p string, f *os.File, d rootDisk) {
	t.Helper()
	if out := runTool(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	start := int64(d.root.FirstLBA) * 512
	size := int64(d.root.LastLBA-d.root.FirstLBA+1) * 512
	part := tempPath(t, "root.img")
	pf, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(pf, io.NewSectionReader(f, start, size)); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	if out, ok := e2fsckClean(part); !ok {
		t.Errorf("e2fsck -fn ROOT:\n%s", out)
	}
	info := runTool(t, "dumpe2fs", "-h", part)
	for _, want := range []string{"Filesystem UUID:          " + d.root.Unique.String(), "Filesystem volume name:   ROOT"} {
		if !strings.Contains(info, want) {
			t.Errorf("dumpe2fs lacks %q", want)
		}
	}
}

// TestPXERootBlankDisk: a blank disk gets a GPT with one ROOT partition
// filling it and an ext4 on it, which the next boot finds.
func TestPXERootBlankDisk(t *testing.T) {
	const size = 96<<20 + 7*512
	p, f := blankFile(t, size)
	d, err := inspectFile(t, f)
	if err != nil || !d.blank {
		t.Fatalf("blank disk: %+v, %v", d, err)
	}
	e, what, err := makeRoot(f, size, 512, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(what, "was blank") || !strings.Contains(what, "formatted ext4") {
		t.Errorf("what: %q", what)
	}
	info := runTool(t, "sgdisk", "-i", "1", p)
	for _, want := range []string{"Partition GUID code: " + strings.ToUpper(contract.TypeROOT), "Partition name: 'ROOT'",
		"First sector: 2048 ", "Partition unique GUID: " + strings.ToUpper(e.Unique.String())} {
		if !strings.Contains(info, want) {
			t.Errorf("sgdisk -i 1 lacks %q:\n%s", want, info)
		}
	}
	if e.LastLBA != size/512-34 {
		t.Errorf("ROOT ends at %d, want the last usable sector %d", e.LastLBA, size/512-34)
	}
	again, err := inspectFile(t, f)
	if err != nil || again.blank || again.unformatted || again.root != e {
		t.Fatalf("second boot: %+v, %v; want ROOT %+v found", again, err, e)
	}
	checkROOTFilesystem(t, p, f, again)

	// Another blank disk gets other GUIDs.
	_, g := blankFile(t, size)
	d2, _ := inspectFile(t, g)
	e2, _, err := makeRoot(g, size, 512, d2)
	if err != nil || e2.Unique == e.Unique {
		t.Errorf("second disk: %v, GUID %s (first %s)", err, e2.Unique, e.Unique)
	}
}

// TestPXERootFindsImageROOT: an installed imgbuild disk's formatted
// ROOT (partition 9 of the full layout) is found as it is.
func TestPXERootFindsImageROOT(t *testing.T) {
	p := tempPath(t, "disk.img")
	makeTestDisk(t, p, 64<<20)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := inspectFile(t, f)
	if err == nil || !strings.Contains(err.Error(), "holds no ext4") {
		t.Fatalf("unformatted ROOT beside other partitions: %+v, %v; want a refusal", d, err)
	}
	e := testEntry(t, f, contract.ROOT.Number)
	if _, err := mkfsExt4(f, int64(e.FirstLBA)*512, int64(e.LastLBA-e.FirstLBA+1)*512, uuid.MustParse(testRoot), "ROOT"); err != nil {
		t.Fatal(err)
	}
	d, err = inspectFile(t, f)
	if err != nil || d.blank || d.unformatted || d.root.Number != contract.ROOT.Number || d.root.Unique.String() != testRoot {
		t.Fatalf("formatted ROOT: %+v, %v", d, err)
	}
}

// TestPXERootFinishesCutShortFirstBoot: a disk whose only partition is
// an empty ROOT (a first boot stopped between GPT and mkfs) is formatted.
func TestPXERootFinishesCutShortFirstBoot(t *testing.T) {
	p, f := blankFile(t, 64<<20)
	runTool(t, "sgdisk", "-n", "1:0:0", "-t", "1:"+contract.TypeROOT, "-c", "1:ROOT", p)
	d, err := inspectFile(t, f)
	if err != nil || !d.unformatted || d.root.Number != 1 {
		t.Fatalf("%+v, %v; want an unformatted ROOT", d, err)
	}
	if _, what, err := makeRoot(f, 64<<20, 512, d); err != nil || !strings.Contains(what, "no filesystem yet") {
		t.Fatalf("makeRoot: %q, %v", what, err)
	}
	d, err = inspectFile(t, f)
	if err != nil || d.unformatted {
		t.Fatalf("after: %+v, %v", d, err)
	}
	checkROOTFilesystem(t, p, f, d)
}

// TestPXERootRefuses: every disk that is neither blank nor ours is left
// alone, with the reason.
func TestPXERootRefuses(t *testing.T) {
	const size = 64 << 20
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p string, f *os.File)
		want  string
	}{
		{"data at the start", func(t *testing.T, p string, f *os.File) { f.WriteAt([]byte("XFSB"), 0) }, "data in its first MiB"},
		{"data at the end", func(t *testing.T, p string, f *os.File) { f.WriteAt([]byte{1}, size-4096) }, "data in its last MiB"},
		{"MBR partition table", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:0", p)
			runTool(t, "sgdisk", "-g", "-m", "1", p) // to MBR: GPT gone
		}, "data in its first MiB"},
		{"GPT without ROOT", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:0", "-c", "1:data", p)
		}, "no partition named ROOT"},
		{"ROOT of another type", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:0", "-t", "1:"+contract.TypeLinux, "-c", "1:ROOT", p)
		}, "no partition named ROOT"},
		{"two ROOTs", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:+8M", "-t", "1:"+contract.TypeROOT, "-c", "1:ROOT",
				"-n", "2:0:0", "-t", "2:"+contract.TypeROOT, "-c", "2:ROOT", p)
		}, "2 partitions named ROOT"},
		{"ROOT with other data", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:0", "-t", "1:"+contract.TypeROOT, "-c", "1:ROOT", p)
			f.WriteAt([]byte("LUKS\xba\xbe"), 1<<20)
		}, "holds no ext4 but is not blank"},
		{"damaged GPT", func(t *testing.T, p string, f *os.File) {
			runTool(t, "sgdisk", "-n", "1:0:0", "-t", "1:"+contract.TypeROOT, "-c", "1:ROOT", p)
			f.WriteAt([]byte{0xff}, 2*512) // in the entry array
		}, "GPT is unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f := blankFile(t, size)
			tc.setup(t, p, f)
			if d, err := inspectFile(t, f); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v, %v; want an error with %q", d, err, tc.want)
			}
		})
	}
	_, small := blankFile(t, 1<<20)
	if _, err := inspectFile(t, small); err == nil || !strings.Contains(err.Error(), "only 1048576 bytes") {
		t.Errorf("1 MiB disk: %v", err)
	}
}

// TestPXELocalRootRefusesDevices: names stage-1 must not act on.
func TestPXELocalRootRefusesDevices(t *testing.T) {
	for _, tc := range []struct{ dev, cmdline, want string }{
		{"/dev/vda", contract.KeyInstall + "=/dev/vda", "installer's target"},
		{"/dev/disk/by-label/x", "", "want a whole disk as /dev/NAME"},
		{"vda", "", "want a whole disk as /dev/NAME"},
		{"/dev/null", "", "not a block device"},
		{"/dev/imgbuild-no-such-disk", "", "no such disk after 200ms"},
	} {
		t0 := time.Now()
		if _, _, err := localRoot(tc.dev, tc.cmdline, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.dev, err, tc.want)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("%s: took %v", tc.dev, d)
		}
	}
}

// testEntry reads partition number of a disk image's GPT.
func testEntry(t *testing.T, f *os.File, number int) gpt.Entry {
	t.Helper()
	tab, err := gpt.Read(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tab.Entries() {
		if e.Number == number {
			return e
		}
	}
	t.Fatalf("no partition %d", number)
	return gpt.Entry{}
}
