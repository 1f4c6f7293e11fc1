package verity

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

const benchBlocks = 256 << 20 / BlockSize

func BenchmarkBuild256MiB(b *testing.B) {
	path := writeRandom(b, b.TempDir(), "bench.img", benchBlocks)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	salt := make([]byte, 32)
	b.SetBytes(benchBlocks * BlockSize)
	for b.Loop() {
		if _, err := Build(f, benchBlocks*BlockSize, f, benchBlocks*BlockSize, salt, "00000000-0000-0000-0000-000000000001", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchCompare times Build against `veritysetup format` on the same
// 256 MiB file (page cache warm, best of 5) and prints both with the
// ratio. It is a measurement, not a check: run it with
// IMGBUILD_BENCH=1 go test -run TestBenchCompare -v ./verity
func TestBenchCompare(t *testing.T) {
	if os.Getenv("IMGBUILD_BENCH") == "" {
		t.Skip("set IMGBUILD_BENCH=1 to compare Build with veritysetup format")
	}
	dir := t.TempDir()
	ours := writeRandom(t, dir, "ours.img", benchBlocks)
	ref := filepath.Join(dir, "ref.img")
	copyFile(t, ours, ref)
	salt := make([]byte, 32)
	const uuid = "00000000-0000-0000-0000-000000000001"
	const size = benchBlocks * BlockSize

	best := func(run func()) time.Duration {
		var b time.Duration
		for i := range 5 {
			start := time.Now()
			run()
			if d := time.Since(start); i == 0 || d < b {
				b = d
			}
		}
		return b
	}
	tRef := best(func() { veritysetupFormat(t, ref, size, salt, uuid) })
	tOurs := best(func() { buildFile(t, ours, size, salt, uuid, 0) })
	tOurs1 := best(func() { buildFile(t, ours, size, salt, uuid, 1) })
	mibs := func(d time.Duration) float64 { return 256 / d.Seconds() }
	t.Logf("256 MiB, GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	t.Logf("%-28s %10s %10s %8s", "", "time", "MiB/s", "ratio")
	t.Logf("%-28s %10v %10.0f %8s", "veritysetup format", tRef.Round(time.Millisecond), mibs(tRef), "1.00")
	t.Logf("%-28s %10v %10.0f %8.2f", fmt.Sprintf("Build, %d workers", runtime.GOMAXPROCS(0)), tOurs.Round(time.Millisecond), mibs(tOurs), tOurs.Seconds()/tRef.Seconds())
	t.Logf("%-28s %10v %10.0f %8.2f", "Build, 1 worker", tOurs1.Round(time.Millisecond), mibs(tOurs1), tOurs1.Seconds()/tRef.Seconds())
}
