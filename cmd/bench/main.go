// Command bench measures imgbuild side by side in one run and prints one
// markdown table: cold, warm and one-input-changed builds of
// manifests/minimal.yaml, peak memory of a 4 GiB image build, the image's
// allocated and zstd-compressed size, the boot timeline, an Omaha update
// and a rollback under QEMU, and our dm-verity writer against
// veritysetup; then tables of our squashfs writer against mksquashfs at
// equal size on real trees.
// Targets are reported, never asserted. Run from the repository root:
// go run ./cmd/bench (make bench).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
	"github.com/klauspost/compress/zstd"
)

type row struct{ what, value, target string }

// quick is -quick: the short run make test makes before the tests.
var quick bool

func main() {
	// The update measurement's guestfwd runs this program as its relay.
	if addr := qemu.RelayAddr(); addr != "" {
		os.Exit(qemu.Relay(addr))
	}
	noBoot := flag.Bool("no-boot", false, "skip the QEMU measurements (boot timeline, update, rollback)")
	bootOnly := flag.String("boot", "", "only the boot timeline of this built image (IMAGE.img beside its IMAGE.json)")
	flag.IntVar(&bootRuns, "boots", bootRuns, "first boots the boot timeline's medians come from")
	chunksOnly := flag.Bool("chunks", false, "only the chunked update rows, building with the default imgbuild cache (warm)")
	noSquashfs := flag.Bool("no-squashfs", false, "skip the squashfs comparison with mksquashfs (minutes)")
	flag.BoolVar(&quick, "quick", false, "what make test runs: one boot for the timeline, no update or rollback run, a short mksquashfs sweep, one run each, pure Go only")
	flag.Parse()
	if quick {
		bootRuns = 1
		os.Setenv("IMGBUILD_BENCH_RUNS", "1")
		if os.Getenv("IMGBUILD_BENCH_LEVELS") == "" {
			os.Setenv("IMGBUILD_BENCH_LEVELS", "zstd-3 zstd-9 zstd-15")
		}
	}
	if *bootOnly != "" {
		if err := onlyBoot(*bootOnly); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *chunksOnly {
		if err := onlyChunks(*noBoot); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	rows, err := measure(*noBoot)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	var sq string
	if !*noSquashfs {
		tmp, err := os.MkdirTemp("", "imgbuild-bench-squashfs-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		sq, err = squashfsTables(tmp)
		os.RemoveAll(tmp)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("imgbuild benchmark, %s, %s, %d CPUs (%s), %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel(), host)
	fmt.Println("| measurement | result | target |")
	fmt.Println("| --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.what, r.value, r.target)
	}
	if bootTable != "" {
		fmt.Printf("\n%s", bootTable)
	}
	if sq != "" {
		fmt.Println()
		fmt.Print(sq)
	}
}

func measure(noBoot bool) ([]row, error) {
	src, _ := os.Getwd()
	tmp, err := os.MkdirTemp("", "imgbuild-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin, how, err := benchBinary(tmp)
	if err != nil {
		return nil, err
	}
	b := &bencher{bin: bin, src: src, tmp: tmp}
	manifest, err := b.copyManifest("m", "")
	if err != nil {
		return nil, err
	}
	out, cache := filepath.Join(tmp, "m", "out"), filepath.Join(tmp, "cache")
	var rows []row
	cold, _, err := b.build(manifest, out, cache)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{"cold build, minimal (" + how + "; empty imgbuild cache; Go build cache shared)", secs(cold), "—"})
	warm, _, err := b.build(manifest, out, cache)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{"warm build, no change", secs(warm), "< 1 s"})
	if err := b.editContent(manifest); err != nil {
		return nil, err
	}
	changed, _, err := b.build(manifest, out, cache)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{"warm build, one file changed", secs(changed), "< 5 s"})
	img := filepath.Join(out, "minimal.img")
	alloc, apparent, zsize, err := sizes(img)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{"minimal image: apparent / allocated / zstd -3", fmt.Sprintf("%s / %s / %s", mibs(apparent), mibs(alloc), mibs(zsize)), "sparse"})
	big, err := b.copyManifest("big", "  root: 4GiB\n")
	if err != nil {
		return nil, err
	}
	bigOut := filepath.Join(tmp, "big", "out")
	t, rss, err := b.build(big, bigOut, filepath.Join(b.tmp, "cache-big"))
	if err != nil {
		return nil, err
	}
	st, _ := os.Stat(filepath.Join(bigOut, "minimal.img"))
	rows = append(rows, row{fmt.Sprintf("%s image, cold cache: peak RSS of imgbuild (time)", gibs(st.Size())), fmt.Sprintf("%d MiB (%s)", rss>>20, secs(t)), "< 256 MiB"})
	os.RemoveAll(bigOut)
	if !noBoot {
		wall, table, err := b.bootTimeline(img)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{fmt.Sprintf("boot to healthy, first boot, fresh VARS: QEMU start to the healthy line (TCG, imgbuild run --until-healthy: qemu64, virtio-rng; median of %d; timeline below)", bootRuns), secs(wall), "≤ 10 s"})
		bootTable = table
		// The plainest machine: no RDRAND, no virtio-rng; sshd's host
		// key waits for the kernel's jitter entropy.
		plain, _, err := b.bootTimeline(img, "--rng=false")
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{fmt.Sprintf("the same without virtio-rng (--rng=false: no entropy source but jitter; median of %d)", bootRuns), secs(plain), "—"})
		if !quick {
			update, rollback, err := b.updateTimes()
			if err != nil {
				return nil, err
			}
			rows = append(rows, row{"update time, Omaha, v1 first boot to v2 marked good (QEMU TCG)", secs(update), "—"},
				row{"rollback time, v3 offered to rollback reported on v2 (3 trial boots, 15 s health timeout)", secs(rollback), "—"})
		}
	}
	chunkRows, err := b.chunkRows(noBoot)
	if err != nil {
		return nil, err
	}
	rows = append(rows, chunkRows...)
	ver, err := verityRatio()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{"dm-verity vs veritysetup format (256 MiB): time ratio", ver, "≤ 0.6"})
	return fleetRows(rows)
}

type bencher struct {
	bin, src, tmp string
	cache         string // imgbuild cache of in-process builds; default tmp/cache
}

// copyManifest copies the minimal manifest into tmp/dir, with
// extraDisk appended to its disk section. The shipped lock stays behind
// so the bench keeps working when the archive moves on: the first build
// in each directory pins the current packages.
func (b *bencher) copyManifest(dir, extraDisk string) (string, error) {
	d := filepath.Join(b.tmp, dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	for _, n := range []string{"minimal.yaml"} {
		data, err := os.ReadFile(filepath.Join(b.src, "manifests", n))
		if err != nil {
			return "", err
		}
		if n == "minimal.yaml" && extraDisk != "" {
			s := regexp.MustCompile(`(?m)^  root: .*\n`).ReplaceAllString(string(data), extraDisk)
			data = []byte(s)
		}
		if err := os.WriteFile(filepath.Join(d, n), data, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(d, "minimal.yaml"), nil
}

// editContent changes one files entry (the web page) of the manifest.
func (b *bencher) editContent(manifest string) error {
	data, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	s := strings.Replace(string(data), "hello from imgbuild minimal", "hello from imgbuild minimal, edited", 1)
	if s == string(data) {
		return fmt.Errorf("%s: the web page entry to edit is gone", manifest)
	}
	return os.WriteFile(manifest, []byte(s), 0o644)
}

// build runs imgbuild build and returns its wall time and peak RSS.
func (b *bencher) build(manifest, out, cache string) (time.Duration, int64, error) {
	cmd := exec.Command(b.bin, "build", "-q", "-f", manifest, "-o", out, "--cache", cache)
	cmd.Env = append(os.Environ(), "IMGBUILD_SOURCE="+b.src)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("build %s: %v\n%s", manifest, err, output)
	}
	d := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return d, rss, nil
}

// sizes are the image's allocated bytes, apparent size and zstd size.
func sizes(img string) (alloc, apparent, compressed int64, err error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		alloc = sys.Blocks * 512
	}
	var n countWriter
	zw, err := zstd.NewWriter(&n, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := io.Copy(zw, f); err != nil {
		return 0, 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, 0, err
	}
	return alloc, st.Size(), int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var verityLine = regexp.MustCompile(`(?m)^\s*bench_test.go:\d+: (veritysetup format|Build, \d+ workers?)\s+(\S+)\s+\S+\s+(\S+)`)

// verityRatio runs the verity package's TestBenchCompare.
func verityRatio() (string, error) {
	cmd := exec.Command("go", "test", "./contract/verity", "-run", "TestBenchCompare", "-v", "-count=1")
	cmd.Env = append(os.Environ(), "IMGBUILD_BENCH=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("verity benchmark: %v\n%s", err, out)
	}
	var ref, ours, ratio string
	for _, m := range verityLine.FindAllStringSubmatch(string(out), -1) {
		switch {
		case m[1] == "veritysetup format":
			ref = m[2]
		case strings.HasSuffix(m[1], "workers") || ours == "":
			ours, ratio = m[2], m[3]
		}
	}
	if ratio == "" {
		return "", fmt.Errorf("verity benchmark: no ratio in its output:\n%s", out)
	}
	return fmt.Sprintf("%s (%s vs %s)", ratio, ours, ref), nil
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }
func mibs(n int64) string         { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func gibs(n int64) string         { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// benchBinary builds the imgbuild the builds are timed with: the one
// make gives users (libzstd and liblzma linked statically, the on-image
// programs embedded) where the C libraries' headers are installed,
// otherwise, and under -quick, a plain go build's pure-Go one, which
// compiles the on-image programs from source at build time. how says
// which, for the table.
func benchBinary(tmp string) (bin, how string, err error) {
	if quick || !haveLibs() {
		bin = filepath.Join(tmp, "imgbuild")
		if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/imgbuild").CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build: %v\n%s", err, out)
		}
		return bin, "go build's imgbuild, pure Go", nil
	}
	if out, err := exec.Command("make", "-s", "bin/imgbuild").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("make bin/imgbuild: %v\n%s", err, out)
	}
	bin = filepath.Join(tmp, "imgbuild")
	if out, err := exec.Command("cp", "bin/imgbuild", bin).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copy bin/imgbuild: %v\n%s", err, out)
	}
	return bin, "make's bin/imgbuild: libzstd, liblzma, on-image programs embedded", nil
}
