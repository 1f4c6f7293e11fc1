package qemutests

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
)

// asCLI makes this test binary run as imgbuild (TestMain): a build that
// a test can SIGKILL is a process of its own.
const asCLI = "IMGBUILD_TEST_AS_CLI"

// outputSums hashes every visible file in dir (outputs; a staging
// directory or temp file starts with a dot).
func outputSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		sums[de.Name()] = hex.EncodeToString(h.Sum(nil))
	}
	return sums
}

func hidden(t *testing.T, dir string) []string {
	t.Helper()
	des, _ := os.ReadDir(dir)
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			names = append(names, de.Name())
		}
	}
	return names
}

// TestBuildFaults: a build SIGKILLed as each phase starts (the steps its
// --json events name) leaves only whole outputs, and the next build
// gives the clean build's bytes and clears the dead build's staging;
// cache entries truncated or bit-flipped after a clean build are noticed
// and made again, with the same bytes.
func TestBuildFaults(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := manifestCopy(t, "minimal", work)
	cache := filepath.Join(work, "cache")
	// The packages themselves are content-addressed and checked by
	// sha256 on every use: share them rather than download them again.
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(build.DefaultCacheDir(), "debs"), filepath.Join(cache, "debs")); err != nil {
		t.Fatal(err)
	}
	var infos []string
	rebuild := func(out string) map[string]string {
		t.Helper()
		start := time.Now()
		infos = nil
		_, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: out, CacheDir: cache, Report: func(e output.Event) {
			if e.Status == "info" {
				infos = append(infos, e.Detail)
			}
		}})
		if err != nil {
			t.Fatalf("build into %s: %v", out, err)
		}
		t.Logf("built %s in %.1fs", filepath.Base(out), time.Since(start).Seconds())
		return outputSums(t, out)
	}
	clean := rebuild(filepath.Join(work, "clean"))

	// Kills: one fresh output directory each, the cache shared, so a
	// kill also lands in the middle of cache writes.
	var steps []string
	for i := 0; ; i++ {
		out := filepath.Join(work, "killed", strings.Repeat("k", i+1))
		step, finished := killAt(t, mf, out, cache, len(steps))
		if finished {
			break
		}
		steps = append(steps, step)
		for name, sum := range outputSums(t, out) {
			if clean[name] != sum {
				t.Errorf("killed at %q: %s is there but not the clean build's (half-written?)", step, name)
			}
		}
		if got := rebuild(out); !equalSums(got, clean) {
			t.Errorf("killed at %q, then built again: outputs %v, want %v", step, got, clean)
		}
		if h := hidden(t, out); len(h) != 0 {
			t.Errorf("killed at %q, then built again: left %v", step, h)
		}
	}
	t.Logf("killed at %d steps: %s", len(steps), strings.Join(steps, ", "))
	if len(steps) < 6 {
		t.Errorf("killed at %d steps (%v); want every phase", len(steps), steps)
	}

	// Damaged cache entries: each kind's largest file flipped, then
	// truncated.
	kinds, _ := os.ReadDir(cache)
	damaged := 0
	for _, kind := range kinds {
		if kind.Name() == "debs" || !kind.IsDir() {
			continue
		}
		for _, how := range []string{"flip", "truncate"} {
			victim := largestFile(t, filepath.Join(cache, kind.Name()))
			if victim == "" {
				continue
			}
			damage(t, victim, how)
			damaged++
			got := rebuild(filepath.Join(work, "damaged", kind.Name()+"-"+how))
			if !equalSums(got, clean) {
				t.Errorf("%s %s: outputs %v, want the clean build's %v", how, victim, got, clean)
			}
			// The kernel's unpacked tree is checked in package kernel,
			// which has no progress to report it on; a Packages index is
			// checked against InRelease's hash by the archive client,
			// and read only for a package the lock gives no pool path.
			if kind.Name() != "kernels" && kind.Name() != "debindex" && !strings.Contains(strings.Join(infos, "\n"), "cache entry "+kind.Name()+"/") {
				t.Errorf("%s %s: the build did not say it made the entry again: %q", how, victim, infos)
			}
		}
	}
	if damaged < 8 {
		t.Errorf("damaged %d cache entries; want every kind", damaged)
	}

	// Full disks: the output and cache directories each on a
	// tmpfs too small for the build. It fails saying so and leaves no
	// output; once the disk has room, the same build gives the clean
	// build's bytes.
	if os.Geteuid() != 0 {
		t.Log("not root: no tmpfs for the full-disk cases")
		return
	}
	// (A full Go cache is left out: the on-image programs come from
	// imgbuild's own cache, and building them with no Go cache at all
	// costs minutes.)
	for _, where := range []string{"out", "cache"} {
		dir, grow := smallDisk(t, filepath.Join(work, "full-"+where), "8M")
		out, opts := filepath.Join(dir, "out"), build.Options{Manifest: mf, CacheDir: cache}
		switch where {
		case "out":
			opts.OutDir = dir
			out = dir
		case "cache":
			opts.OutDir, opts.CacheDir = out, dir
			os.Symlink(filepath.Join(build.DefaultCacheDir(), "debs"), filepath.Join(dir, "debs"))
		}
		_, err := build.Run(t.Context(), opts)
		if err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%s on a full disk: %v; want the build to fail with ENOSPC", where, err)
		}
		if got := outputSums(t, out); len(got) != 0 {
			t.Errorf("%s on a full disk: outputs %v left", where, got)
		}
		if h := hidden(t, out); len(h) != 0 {
			t.Errorf("%s on a full disk: left %v", where, h)
		}
		grow()
		if _, err := build.Run(t.Context(), opts); err != nil {
			t.Errorf("%s with room again: %v", where, err)
		} else if got := outputSums(t, out); !equalSums(got, clean) {
			t.Errorf("%s with room again: outputs %v, want %v", where, got, clean)
		}
	}
}

// smallDisk mounts a tmpfs of size at dir; grow gives it room.
func smallDisk(t *testing.T, dir, size string) (string, func()) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir, func() {
		if out, err := exec.Command("mount", "-o", "remount,size=4G", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount %s bigger: %v %s", dir, err, out)
		}
	}
}

func equalSums(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// killAt runs imgbuild build --json in its own process and SIGKILLs it
// when the n-th step starts; finished says the build ended first.
func killAt(t *testing.T, mf, out, cache string, n int) (step string, finished bool) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "build", "-f", mf, "-o", out, "--json")
	cmd.Env = append(os.Environ(), asCLI+"=1", "IMGBUILD_CACHE="+cache)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var e struct {
			Step, Status string
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Status != "start" {
			continue
		}
		if seen == n {
			cmd.Process.Kill()
			cmd.Wait()
			return e.Step, false
		}
		seen++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("build (no kill, %d steps seen): %v", seen, err)
	}
	return "", true
}

func largestFile(t *testing.T, dir string) string {
	t.Helper()
	type f struct {
		path string
		size int64
	}
	var files []f
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "SHA256SUMS" {
			if info, err := d.Info(); err == nil && info.Size() > 1 {
				files = append(files, f{p, info.Size()})
			}
		}
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].size > files[j].size })
	if len(files) == 0 {
		return ""
	}
	return files[0].path
}

func damage(t *testing.T, path, how string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	info, _ := fh.Stat()
	switch how {
	case "flip":
		b := make([]byte, 1)
		at := info.Size() / 2
		fh.ReadAt(b, at)
		b[0] ^= 0x10
		fh.WriteAt(b, at)
	case "truncate":
		fh.Truncate(info.Size() / 2)
	}
}
