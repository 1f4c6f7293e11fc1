package ext4

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	diskfsfile "github.com/diskfs/go-diskfs/backend/file"
	diskfsext4 "github.com/diskfs/go-diskfs/filesystem/ext4"
)

// tree writes the files the fixtures carry: small and multi-block files,
// a sparse one, nested directories, and a directory large enough for
// mke2fs to index it (htree).
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+123)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	must(t, os.MkdirAll(filepath.Join(dir, "var/log/imgbuild/journal"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "var/log/imgbuild/journal/log-0000000000000000.jsonl"), []byte(`{"msg":"hi"}`+"\n"), 0o640))
	must(t, os.WriteFile(filepath.Join(dir, "big"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	sparse, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	sparse.WriteAt([]byte("end"), 5<<20)
	sparse.Close()
	must(t, os.MkdirAll(filepath.Join(dir, "many"), 0o755))
	for i := range 600 {
		must(t, os.WriteFile(filepath.Join(dir, "many", fmt.Sprintf("file-with-a-long-name-%04d", i)), []byte(fmt.Sprint(i)), 0o644))
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mke2fs(t *testing.T, src string, opts ...string) string {
	t.Helper()
	if _, err := exec.LookPath("mke2fs"); err != nil {
		t.Fatal("mke2fs (e2fsprogs) is the reference writer: scripts/deps.sh installs it")
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	args := append([]string{"-q", "-F", "-t", "ext4", "-d", src}, opts...)
	if out, err := exec.Command("mke2fs", append(args, img, "64M")...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs %v: %v\n%s", opts, err, out)
	}
	return img
}

func openImage(t *testing.T, img string) *FS {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fsys, err := Open(f)
	must(t, err)
	return fsys
}

// TestMatchesMke2fs reads back every file and directory mke2fs (the
// reference writer) put in images of each layout ROOT could have.
func TestMatchesMke2fs(t *testing.T) {
	src := tree(t)
	for _, opts := range [][]string{
		nil,                            // mke2fs's defaults: metadata_csum, 64bit, 4 KiB blocks
		{"-O", "^metadata_csum"},       // as stage-1 (go-diskfs) makes ROOT
		{"-b", "1024", "-O", "^64bit"}, // 32-byte group descriptors, many groups
	} {
		t.Run(strings.Join(opts, ""), func(t *testing.T) {
			fsys := openImage(t, mke2fs(t, src, opts...))
			want := os.DirFS(src)
			n := 0
			err := fs.WalkDir(want, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				n++
				if d.IsDir() {
					got, err := fs.ReadDir(fsys, p)
					exp, _ := fs.ReadDir(want, p)
					if p == "." {
						got = slices.DeleteFunc(got, func(e fs.DirEntry) bool { return e.Name() == "lost+found" }) // mke2fs's own
					}
					if err != nil || len(got) != len(exp) {
						t.Errorf("ReadDir %s: %d entries, %v; want %d", p, len(got), err, len(exp))
					}
					return nil
				}
				got, err := fs.ReadFile(fsys, p)
				exp, _ := fs.ReadFile(want, p)
				if err != nil || !bytes.Equal(got, exp) {
					t.Errorf("%s: %d bytes, %v; want %d", p, len(got), err, len(exp))
				}
				return nil
			})
			must(t, err)
			if n < 600 {
				t.Errorf("walked %d paths", n)
			}
			if _, err := fsys.Open("var/nope"); !os.IsNotExist(err) {
				t.Errorf("missing file: %v", err)
			}
		})
	}
}

// TestFragmentedFile reads a file whose extents do not fit in the inode
// (an extent tree of depth 1): debugfs writes it into a free space full
// of holes.
func TestFragmentedFile(t *testing.T) {
	src := t.TempDir()
	for i := range 400 {
		must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{byte(i)}, 4096), 0o644))
	}
	img := mke2fs(t, src, "-O", "^metadata_csum")
	var cmds strings.Builder
	for i := 0; i < 400; i += 2 {
		fmt.Fprintf(&cmds, "rm f%03d\n", i)
	}
	data := make([]byte, 150*4096+7)
	for i := range data {
		data[i] = byte(i * 31 >> 3)
	}
	host := filepath.Join(t.TempDir(), "data")
	must(t, os.WriteFile(host, data, 0o644))
	fmt.Fprintf(&cmds, "write %s frag\n", host)
	cmd := exec.Command("debugfs", "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader(cmds.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	out, _ := exec.Command("debugfs", "-R", "ex frag", img).CombinedOutput()
	if !bytes.Contains(out, []byte("Level Entries")) || !bytes.Contains(out, []byte(" 1/ 1 ")) {
		t.Fatalf("frag has no depth-1 extent tree:\n%s", out)
	}
	got, err := fs.ReadFile(openImage(t, img), "frag")
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("fragmented file: %d bytes, %v; want %d", len(got), err, len(data))
	}
}

// TestDiskfsRefusesInodesWithoutMetadataCsum pins the go-diskfs bug
// this package works around: without metadata_csum an inode's checksum
// fields are not checksums, yet go-diskfs v1.9.4 checks them. Once this
// test fails, go-diskfs reads such file systems and can replace this
// package.
func TestDiskfsRefusesInodesWithoutMetadataCsum(t *testing.T) {
	if _, err := exec.LookPath("debugfs"); err != nil {
		t.Fatal("debugfs (e2fsprogs) plays the kernel: scripts/deps.sh installs it")
	}
	// ROOT as stage-1 makes it: go-diskfs, 4 KiB blocks, no metadata_csum.
	img := filepath.Join(t.TempDir(), "root.img")
	f, err := os.Create(img)
	must(t, err)
	const size = 64 << 20
	must(t, f.Truncate(size))
	dfs, err := diskfsext4.Create(diskfsfile.New(f, false), size, 0, 512, &diskfsext4.Params{SectorsPerBlock: 8,
		Features: []diskfsext4.FeatureOpt{diskfsext4.WithFeatureReservedGDTBlocksForExpansion(false)}})
	must(t, err)
	must(t, dfs.Close())
	f.Close()
	if out, err := exec.Command("dumpe2fs", "-h", img).Output(); err != nil || bytes.Contains(out, []byte("metadata_csum")) {
		t.Fatalf("dumpe2fs: %v; want no metadata_csum\n%s", err, out)
	}
	// A writer that, like the kernel, leaves the checksum fields alone
	// without the feature: debugfs makes the journal's directories.
	cmd := exec.Command("debugfs", "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader("mkdir var\nmkdir var/log\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	f, err = os.Open(img)
	must(t, err)
	defer f.Close()
	dfs, err = diskfsext4.Read(diskfsfile.New(f, true), size, 0, 512)
	if err == nil {
		_, err = dfs.ReadDir("var")
	}
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("go-diskfs read it (%v): it checks inode checksums only with metadata_csum now; drop the workaround", err)
	}
	if es, err := fs.ReadDir(openImage(t, img), "var"); err != nil || len(es) != 1 || es[0].Name() != "log" {
		t.Errorf("this package: %v, %v", es, err)
	}
}

// TestRefusesGarbage: no superblock, a damaged one, a truncated image:
// errors, never a panic or a huge allocation.
func TestRefusesGarbage(t *testing.T) {
	if _, err := Open(bytes.NewReader(make([]byte, 4096))); err == nil {
		t.Error("zeros opened")
	}
	img, err := os.ReadFile(mke2fs(t, t.TempDir()))
	must(t, err)
	short := bytes.NewReader(img[:8192])
	if fsys, err := Open(short); err == nil {
		if _, err := fs.ReadDir(fsys, "."); err == nil {
			t.Error("a truncated image listed its root")
		}
	}
	var _ io.ReaderAt = short
}
