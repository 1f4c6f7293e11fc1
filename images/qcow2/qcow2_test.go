package qcow2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// chunk is a write into the raw image; zero chunks allocate blocks
// that hold only zeros.
type chunk struct {
	off, len int64
	zero     bool
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name   string
		size   int64
		chunks []chunk
	}{
		{"all holes", 8 * mib, nil},
		{"data at start", 8 * mib, []chunk{{0, 4 * kib, false}}},
		{"data in the middle", 8 * mib, []chunk{{3*mib + 100, 200 * kib, false}}},
		{"data at the end", 8 * mib, []chunk{{8*mib - 1, 1, false}}},
		{"allocated zero cluster", 8 * mib, []chunk{{mib, 3 * clusterSize, true}, {5 * mib, 10, false}}},
		{"zero and data in one range", 4 * mib, []chunk{{0, 2 * clusterSize, true}, {2 * clusterSize, 10, false}, {2*clusterSize + 10, 5 * clusterSize, true}}},
		{"size not cluster aligned", 3*mib + 12345, []chunk{{0, 512, false}, {3*mib + 12000, 345, false}}},
		{"tiny", 1000, []chunk{{10, 20, false}}},
		{"several L2 tables, multi-GiB sparse", 5 * gib, []chunk{{0, kib, false}, {gib + 7, mib, false}, {3*gib - 5, 10, false}, {5*gib - kib, kib, false}, {2 * gib, mib, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw := filepath.Join(dir, "disk.img")
			want := makeRaw(t, raw, tc.size, tc.chunks)
			out := filepath.Join(dir, "disk.qcow2")
			if err := Convert(raw, out); err != nil {
				t.Fatal(err)
			}
			checkImage(t, raw, out, tc.size, want)
			again := filepath.Join(dir, "again.qcow2")
			if err := Convert(raw, again); err != nil {
				t.Fatal(err)
			}
			a, b := readFile(t, out), readFile(t, again)
			if !bytes.Equal(a, b) {
				t.Error("two conversions of the same raw image differ")
			}
		})
	}
}

// TestLargeSparse converts a 4 GiB raw image holding 100 MiB of data
// and logs time and peak RSS (of the whole test process, so an upper
// bound for Convert).
func TestLargeSparse(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MiB")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.img")
	var chunks []chunk
	for i := int64(0); i < 100; i++ {
		chunks = append(chunks, chunk{off: i * 41 * mib, len: mib})
	}
	want := makeRaw(t, raw, 4*gib, chunks)
	out := filepath.Join(dir, "disk.qcow2")
	start := time.Now()
	if err := Convert(raw, out); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	t.Logf("4 GiB raw, 100 MiB data: converted in %v, qcow2 %d bytes, peak RSS of the test process %d MiB", took.Round(time.Millisecond), st.Size(), ru.Maxrss/1024)
	checkImage(t, raw, out, 4*gib, want)
}

// makeRaw writes a sparse raw image and returns how many clusters hold
// non-zero data.
func makeRaw(t *testing.T, path string, size int64, chunks []chunk) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	data := map[int64]bool{}
	for i, c := range chunks {
		buf := make([]byte, c.len)
		if !c.zero {
			for j := range buf {
				buf[j] = byte(i*31+j)%251 + 1
			}
			for k := c.off / clusterSize; k*clusterSize < c.off+c.len; k++ {
				data[k] = true
			}
		}
		if _, err := f.WriteAt(buf, c.off); err != nil {
			t.Fatal(err)
		}
	}
	return len(data)
}

// checkImage checks out with qemu-img: no errors or leaks, same content
// as raw, the virtual size, and exactly wantData data clusters stored.
func checkImage(t *testing.T, raw, out string, size int64, wantData int) {
	t.Helper()
	var check struct {
		CheckErrors       int `json:"check-errors"`
		Leaks             int `json:"leaks"`
		Corruptions       int `json:"corruptions"`
		AllocatedClusters int `json:"allocated-clusters"`
	}
	qemuImgJSON(t, &check, "check", "-f", "qcow2", "--output=json", out)
	if check.CheckErrors != 0 || check.Leaks != 0 || check.Corruptions != 0 {
		t.Errorf("qemu-img check: %+v", check)
	}
	if check.AllocatedClusters != wantData {
		t.Errorf("%d data clusters stored, want %d", check.AllocatedClusters, wantData)
	}
	cmp := qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", raw, out)
	if !strings.Contains(cmp, "Images are identical") {
		t.Errorf("qemu-img compare: %s", cmp)
	}
	var info struct {
		VirtualSize int64  `json:"virtual-size"`
		Format      string `json:"format"`
	}
	qemuImgJSON(t, &info, "info", "-f", "qcow2", "--output=json", out)
	size = (size + 511) / 512 * 512
	if info.VirtualSize != size || info.Format != "qcow2" {
		t.Errorf("qemu-img info: virtual size %d format %q, want %d qcow2", info.VirtualSize, info.Format, size)
	}
}

func qemuImg(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatalf("qemu-img is needed to check the images (apt-get install qemu-utils): %v", err)
	}
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func qemuImgJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := qemuImg(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", args[0], err, out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLayoutRefcountsCoverFile checks, for images too large to write in
// a test, that the refcount blocks cover every cluster of the file and
// the structures do not overlap.
func TestLayoutRefcountsCoverFile(t *testing.T) {
	for _, n := range []int{0, 1, rcEntries - 10, rcEntries, 3 * rcEntries, 300000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := make([]uint32, n)
			for i := range data {
				data[i] = uint32(i * 3)
			}
			l := newLayout(int64(3*n+1)*clusterSize, data)
			if l.rbClusters*rcEntries < l.total {
				t.Errorf("%d refcount blocks cover %d clusters, file has %d", l.rbClusters, l.rbClusters*rcEntries, l.total)
			}
			if l.rtClusters*rtEntries < l.rbClusters {
				t.Errorf("refcount table of %d clusters cannot hold %d blocks", l.rtClusters, l.rbClusters)
			}
			if end := l.dataOff/clusterSize + int64(n); end != l.total {
				t.Errorf("data ends at cluster %d, file has %d", end, l.total)
			}
			if !(l.l1Off < l.rtOff && l.rtOff < l.rbOff && l.rbOff <= l.l2Off && l.l2Off <= l.dataOff) {
				t.Errorf("structures out of order: %+v", l)
			}
		})
	}
}
