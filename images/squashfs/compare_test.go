package squashfs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCompareMksquashfs compares Write with mksquashfs like with like on
// real trees: both sweep their settings over the same input, block size
// and ownership, then each of our settings is timed against the fastest
// mksquashfs setting whose image is no larger, and the smallest images
// each can make are set side by side. It writes a markdown table to
// $IMGBUILD_BENCH_TABLE (or the test log). Opt-in: IMGBUILD_BENCH=1.
//
// Inputs: the test kernel's module tree ($IMGBUILD_TEST_KERNEL_DIR), an
// etcd binary ($IMGBUILD_BENCH_ETCD), the Go toolchain's binaries and
// sources (many small files), and the synthetic tree of genTree. Inputs
// that are not there are left out of the table, never faked.
func TestCompareMksquashfs(t *testing.T) {
	if os.Getenv("IMGBUILD_BENCH") == "" {
		t.Skip("set IMGBUILD_BENCH=1 to compare with mksquashfs (minutes)")
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Fatal("mksquashfs not found: install squashfs-tools")
	}
	runs := 3
	if s := os.Getenv("IMGBUILD_BENCH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("IMGBUILD_BENCH_RUNS=%q: want a positive number", s)
		}
		runs = n
	}
	var rows, back, smallest []string
	for _, in := range compareInputs(t) {
		r, bk, s := compareInput(t, in, runs)
		rows, back, smallest = append(rows, r...), append(back, bk...), append(smallest, s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "squashfs writer vs mksquashfs %s, same input, 128 KiB blocks, -all-root -no-xattrs -no-exports, %d workers / -processors %d; median of %d runs, one where a pairing's first runs took over a minute (wall, and CPU in brackets); ours is %s\n\n",
		mksquashfsVersion(), runtimeProcs(), runtimeProcs(), runs, zstdImpl)
	b.WriteString("| input | ours | our size | our time | mksquashfs, fastest at ≤ our size | its size | its time | time ratio (wall, CPU) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("\nThe other way round: each mksquashfs setting against our fastest setting whose image is no larger.\n\n| input | mksquashfs | its size | its time | ours, fastest at ≤ its size | our size | our time | time ratio (wall, CPU) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range back {
		b.WriteString(r + "\n")
	}
	b.WriteString("\n| input | our smallest | mksquashfs smallest | mksquashfs zstd-19 | size ratio to smallest / to zstd-19 |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range smallest {
		b.WriteString(s + "\n")
	}
	if p := os.Getenv("IMGBUILD_BENCH_TABLE"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Log("\n" + b.String())
}

// compareIn is one input tree.
type compareIn struct{ name, dir string }

func compareInputs(t *testing.T) []compareIn {
	var ins []compareIn
	if k := os.Getenv("IMGBUILD_TEST_KERNEL_DIR"); k != "" {
		ins = append(ins, compareIn{"kernel modules", filepath.Join(k, "lib", "modules")})
	}
	if e := os.Getenv("IMGBUILD_BENCH_ETCD"); e != "" {
		d := t.TempDir()
		if err := os.Link(e, filepath.Join(d, "etcd")); err != nil {
			data, err := os.ReadFile(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "etcd"), data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		ins = append(ins, compareIn{"etcd binary", d})
	}
	goroot := runtime.GOROOT()
	ins = append(ins,
		compareIn{"Go toolchain binaries", filepath.Join(goroot, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)},
		compareIn{"Go sources (cmd), small files", filepath.Join(goroot, "src", "cmd")})
	syn := t.TempDir()
	genTree(t, syn)
	ins = append(ins, compareIn{"synthetic tree", syn})
	var out []compareIn
	for _, in := range ins {
		if _, err := os.Stat(in.dir); err != nil {
			t.Logf("%s: %v: left out", in.name, err)
			continue
		}
		out = append(out, in)
	}
	return out
}

// measure is one setting's output size and its runs' times.
type measure struct {
	name      string
	size      int64
	wall, cpu []time.Duration
	cached    bool // the times are from an earlier run's sweep
}

func (m *measure) add(wall, cpu time.Duration) {
	m.wall, m.cpu = append(m.wall, wall), append(m.cpu, cpu)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// mksquashfsLevels are the reference's settings: zstd levels and xz
// (IMGBUILD_BENCH_LEVELS, space-separated, overrides them; zstd-19 is
// always swept, the row of the size target).
var mksquashfsLevels = []string{"zstd-1", "zstd-3", "zstd-6", "zstd-9", "zstd-12", "zstd-15", "zstd-19", "xz"}

func init() {
	if s := os.Getenv("IMGBUILD_BENCH_LEVELS"); s != "" {
		mksquashfsLevels = strings.Fields(s)
		if !slices.Contains(mksquashfsLevels, "zstd-19") {
			mksquashfsLevels = append(mksquashfsLevels, "zstd-19")
		}
	}
}

// sweepMksquashfs runs mksquashfs once at each setting on in. With
// $IMGBUILD_BENCH_SWEEP set, the sweep's sizes and times are kept in
// that file and reused by later runs on the same input (the pure-Go and
// libzstd runs of make bench share one sweep); the settings paired with
// ours are still timed afresh, side by side.
func sweepMksquashfs(t *testing.T, in compareIn, img string) map[string]*measure {
	cacheFile := os.Getenv("IMGBUILD_BENCH_SWEEP")
	saved := map[string]savedMeasure{}
	if cacheFile != "" {
		if data, err := os.ReadFile(cacheFile); err == nil {
			if err := json.Unmarshal(data, &saved); err != nil {
				t.Fatalf("%s: %v", cacheFile, err)
			}
		}
	}
	refs := map[string]*measure{}
	for _, name := range mksquashfsLevels {
		k := in.dir + "\x00" + name
		if sm, ok := saved[k]; ok {
			refs[name] = &measure{name: name, size: sm.Size, wall: []time.Duration{sm.Wall}, cpu: []time.Duration{sm.CPU}, cached: true}
			continue
		}
		m := &measure{name: name}
		m.size = runMksquashfs(t, in.dir, img, name, m)
		refs[name] = m
		saved[k] = savedMeasure{Size: m.size, Wall: m.wall[0], CPU: m.cpu[0]}
	}
	if cacheFile != "" {
		data, _ := json.Marshal(saved)
		if err := os.WriteFile(cacheFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return refs
}

type savedMeasure struct {
	Size      int64
	Wall, CPU time.Duration
}

// ourSettings are the settings of Write the table shows: each zstd level
// that maps to a distinct encoder, and xz.
func ourSettings() []struct {
	name string
	opt  Options
} {
	var s []struct {
		name string
		opt  Options
	}
	for _, l := range zstdBenchLevels {
		s = append(s, struct {
			name string
			opt  Options
		}{fmt.Sprintf("zstd-%d", l), Options{Compression: ZSTD, Level: l}})
	}
	return append(s, struct {
		name string
		opt  Options
	}{"xz", Options{Compression: XZ}})
}

func compareInput(t *testing.T, in compareIn, runs int) (rows, back []string, smallest string) {
	out := t.TempDir()
	var input int64
	for _, e := range dirEntries(t, in.dir) {
		input += e.Size
	}
	label := fmt.Sprintf("%s (%.1f MB)", in.name, float64(input)/1e6)
	refs := sweepMksquashfs(t, in, filepath.Join(out, "ref"))
	var ours []*measure
	var opts []Options
	for _, s := range ourSettings() {
		m := &measure{name: s.name}
		m.size = runOurs(t, in.dir, filepath.Join(out, "ours"), s.opt, m)
		ours, opts = append(ours, m), append(opts, s.opt)
	}
	for i, o := range ours {
		ref := fastestAtMost(refs, o.size)
		if ref != nil && ref.cached { // time it side by side with ours, not from another run
			ref.wall, ref.cpu, ref.cached = nil, nil, false
			runMksquashfs(t, in.dir, filepath.Join(out, "ref"), ref.name, ref)
		}
		for range repeats(runs, o, ref) {
			runOurs(t, in.dir, filepath.Join(out, "ours"), opts[i], o)
			if ref != nil {
				runMksquashfs(t, in.dir, filepath.Join(out, "ref"), ref.name, ref)
			}
		}
		row := fmt.Sprintf("| %s | %s | %s | %s | ", label, o.name, mb(o.size), times(o))
		if ref == nil {
			row += "none is this small | | | |"
		} else {
			row += fmt.Sprintf("%s | %s | %s | %.2f, %.2f |", ref.name, mb(ref.size), times(ref),
				median(o.wall).Seconds()/median(ref.wall).Seconds(), median(o.cpu).Seconds()/median(ref.cpu).Seconds())
			ref.wall, ref.cpu = ref.wall[:1], ref.cpu[:1] // the next pairing measures afresh
		}
		rows = append(rows, row)
	}
	for _, name := range mksquashfsLevels {
		back = append(back, backRow(t, in, label, refs[name], ours, filepath.Join(out, "ref")))
	}
	ourMin, refMin := minSize(ours), minSize(mapValues(refs))
	z19 := refs["zstd-19"]
	smallest = fmt.Sprintf("| %s | %s %s | %s %s | %s | %.3f / %.3f |", label, ourMin.name, mb(ourMin.size), refMin.name, mb(refMin.size),
		mb(z19.size), float64(ourMin.size)/float64(refMin.size), float64(ourMin.size)/float64(z19.size))
	return rows, back, smallest
}

// backRow sets one mksquashfs setting against our fastest setting whose
// image is no larger: at that size, is ours as fast? A reference timed
// only in another run's sweep is timed again here, beside ours.
func backRow(t *testing.T, in compareIn, label string, ref *measure, ours []*measure, img string) string {
	var best *measure
	for _, o := range ours {
		if o.size <= ref.size && (best == nil || median(o.wall) < median(best.wall)) {
			best = o
		}
	}
	row := fmt.Sprintf("| %s | %s | %s | ", label, ref.name, mb(ref.size))
	if best == nil {
		return row + fmt.Sprintf("%s | none of ours is this small | | | |", times(ref))
	}
	if ref.cached {
		ref.wall, ref.cpu, ref.cached = nil, nil, false
		runMksquashfs(t, in.dir, img, ref.name, ref)
	}
	return row + fmt.Sprintf("%s | %s | %s | %s | %.2f, %.2f |", times(ref), best.name, mb(best.size), times(best),
		median(best.wall).Seconds()/median(ref.wall).Seconds(), median(best.cpu).Seconds()/median(ref.cpu).Seconds())
}

// repeats is how many more runs a pairing gets: runs-1, or none when
// one run of both already took over a minute (level 19 and xz on a
// loaded machine), where the noise is small against the time.
func repeats(runs int, ours, ref *measure) int {
	d := ours.wall[0]
	if ref != nil {
		d += ref.wall[0]
	}
	if d > time.Minute {
		return 0
	}
	return runs - 1
}

// fastestAtMost is the mksquashfs setting with the shortest first run
// among those whose image is no larger than size.
func fastestAtMost(refs map[string]*measure, size int64) *measure {
	var best *measure
	for _, name := range mksquashfsLevels {
		m := refs[name]
		if m.size <= size && (best == nil || m.wall[0] < best.wall[0]) {
			best = m
		}
	}
	return best
}

func minSize(ms []*measure) *measure {
	best := ms[0]
	for _, m := range ms[1:] {
		if m.size < best.size {
			best = m
		}
	}
	return best
}

func mapValues(refs map[string]*measure) []*measure {
	var ms []*measure
	for _, name := range mksquashfsLevels {
		ms = append(ms, refs[name])
	}
	return ms
}

func runMksquashfs(t *testing.T, dir, img, setting string, m *measure) int64 {
	args := []string{dir, img, "-b", "131072", "-noappend", "-no-xattrs", "-no-exports", "-all-root",
		"-quiet", "-no-progress", "-processors", strconv.Itoa(runtimeProcs())}
	if lvl, ok := strings.CutPrefix(setting, "zstd-"); ok {
		args = append(args, "-comp", "zstd", "-Xcompression-level", lvl)
	} else {
		args = append(args, "-comp", setting)
	}
	cmd := exec.Command("mksquashfs", args...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m.add(time.Since(start), cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// runOurs times what mksquashfs does: walk the tree, then write it.
func runOurs(t *testing.T, dir, img string, opt Options, m *measure) int64 {
	cpu0 := cpuTime()
	start := time.Now()
	size := writeFile(t, img, dirEntries(t, dir), opt)
	m.add(time.Since(start), cpuTime()-cpu0)
	return size
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func times(m *measure) string {
	return fmt.Sprintf("%.2f s (%.2f s)", median(m.wall).Seconds(), median(m.cpu).Seconds())
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

func mksquashfsVersion() string {
	out, _ := exec.Command("mksquashfs", "-version").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2]
	}
	return "(version unknown)"
}
