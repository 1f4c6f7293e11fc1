package squashfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// genTree writes a ~64 MiB tree of mixed data under dir: large
// incompressible and compressible files, executables-like mixes with zero
// runs, and many small files. It returns the number of bytes written.
func genTree(tb testing.TB, dir string) int64 {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	var total int64
	put := func(p string, b []byte) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		total += int64(len(b))
	}
	for i := range 4 { // compressed archives, media: incompressible
		put(fmt.Sprintf("share/blob%d.bin", i), randomBytes(r, 4<<20+r.IntN(1<<20)))
	}
	for i := range 8 { // text: highly compressible
		put(fmt.Sprintf("share/doc/text%d.txt", i), textBytes(r, 3<<20+r.IntN(1<<20)))
	}
	for i := range 6 { // binaries: a mix of text, noise and zero runs
		var b []byte
		for len(b) < 3<<20 {
			switch r.IntN(3) {
			case 0:
				b = append(b, textBytes(r, r.IntN(64<<10))...)
			case 1:
				b = append(b, randomBytes(r, r.IntN(16<<10))...)
			default:
				b = append(b, make([]byte, r.IntN(32<<10))...)
			}
		}
		put(fmt.Sprintf("bin/prog%d", i), b)
	}
	for i := range 2000 { // configs, scripts, headers
		put(fmt.Sprintf("lib/pkg%02d/file%04d.conf", i%50, i), textBytes(r, r.IntN(8<<10)))
	}
	return total
}

// dirEntries lists dir as entries owned by root, as mksquashfs -all-root.
func dirEntries(tb testing.TB, dir string) []Entry {
	tb.Helper()
	var es []Entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := Entry{Path: filepath.ToSlash(rel), Mode: info.Mode(), ModTime: info.ModTime()}
		if info.Mode().IsRegular() {
			e.Size = info.Size()
			e.Open = func() (io.ReadCloser, error) { return os.Open(p) }
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

func writeFile(tb testing.TB, path string, entries []Entry, opt Options) int64 {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	size, err := Write(f, 0, entries, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return size
}

func BenchmarkWrite(b *testing.B) {
	src := b.TempDir()
	total := genTree(b, src)
	entries := dirEntries(b, src)
	img := filepath.Join(b.TempDir(), "img")
	for _, level := range []int{3, 15} {
		b.Run(fmt.Sprintf("zstd-%d", level), func(b *testing.B) {
			b.SetBytes(total)
			var size int64
			for b.Loop() {
				size = writeFile(b, img, entries, Options{Level: level})
			}
			b.ReportMetric(float64(size)/float64(total), "size/input")
		})
	}
}

// BenchmarkVsMksquashfs writes the synthetic tree with mksquashfs and
// with Write at the same nominal compressor, level and block size, and
// reports time_ratio (ours/theirs) and size_ratio (ours/theirs). The
// same level number is not the same strength (the pure-Go encoder stops
// near zstd's level 11), so this is a regression check, not a
// comparison: TestCompareMksquashfs compares at equal size.
func BenchmarkVsMksquashfs(b *testing.B) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		b.Fatal("mksquashfs not found: install squashfs-tools")
	}
	src := b.TempDir()
	genTree(b, src)
	entries := dirEntries(b, src)
	out := b.TempDir()
	for _, tc := range []struct {
		name  string
		opt   Options
		flags []string
	}{
		{"zstd-3", Options{Compression: ZSTD, Level: 3}, []string{"-comp", "zstd", "-Xcompression-level", "3"}},
		{"zstd-15", Options{Compression: ZSTD, Level: 15}, []string{"-comp", "zstd", "-Xcompression-level", "15"}},
		{"xz", Options{Compression: XZ}, []string{"-comp", "xz"}},
		{"gzip-6", Options{Compression: GZIP, Level: 6}, []string{"-comp", "gzip", "-Xcompression-level", "6"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ref := filepath.Join(out, "ref-"+tc.name)
			ours := filepath.Join(out, "ours-"+tc.name)
			args := append([]string{src, ref}, tc.flags...)
			args = append(args, "-b", "131072", "-noappend", "-no-xattrs", "-all-root", "-quiet", "-no-progress",
				"-processors", strconv.Itoa(max(1, runtimeProcs())))
			var refTime, ourTime time.Duration
			var ourSize int64
			for b.Loop() {
				start := time.Now()
				if out, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
					b.Fatalf("mksquashfs: %v\n%s", err, out)
				}
				refTime += time.Since(start)
				start = time.Now()
				ourSize = writeFile(b, ours, entries, tc.opt)
				ourTime += time.Since(start)
			}
			st, err := os.Stat(ref)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ourTime.Seconds()/refTime.Seconds(), "time_ratio")
			b.ReportMetric(float64(ourSize)/float64(st.Size()), "size_ratio")
			b.ReportMetric(float64(st.Size()), "ref_bytes")
			b.ReportMetric(float64(ourSize), "our_bytes")
		})
	}
}
