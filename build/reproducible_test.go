package build_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/images/repro"
)

// TestReproducible builds the shipped minimal manifest twice with the
// real imgbuild binary: different directories, separate empty caches,
// different TZ and umask, a signing key, at different times. Every
// output (image, kernel, initramfs, USR, release record, signature,
// summary) must be byte-identical. Go's own caches are shared: they are
// Go's, and go build -trimpath output does not depend on them.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image twice (minutes)")
	}
	tmp := t.TempDir()
	src, bin := buildImgbuild(t, tmp)
	key := filepath.Join(tmp, "keys")
	if out, err := exec.Command(bin, "keygen", "-o", key).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	runs := []struct{ dir, tz, umask string }{
		{filepath.Join(tmp, "one"), "UTC", "022"},
		{filepath.Join(tmp, "elsewhere", "two"), "Pacific/Kiritimati", "077"},
	}
	for i, r := range runs {
		manifest := copyManifest(t, src, r.dir)
		// The first build pins the archive's current packages (the
		// shipped lock would break this test when the archive moves
		// on); the second must use exactly those pins.
		locked := "--locked=false"
		if i > 0 {
			copyFile(t, filepath.Join(runs[0].dir, "minimal.lock"), filepath.Join(r.dir, "minimal.lock"))
			locked = "--locked"
		}
		cmd := exec.Command("sh", "-c", `umask "$1"; shift; exec "$@"`, "sh", r.umask,
			bin, "build", "-q", "-f", manifest, "-o", filepath.Join(r.dir, "out"),
			"--cache", filepath.Join(r.dir, "cache"), locked, "--sign-key", filepath.Join(key, "release.key"))
		cmd.Dir = r.dir
		cmd.Env = append(withoutEnv("SOURCE_DATE_EPOCH", "TZ", "IMGBUILD_CACHE"), "TZ="+r.tz, "IMGBUILD_SOURCE="+src)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build in %s: %v\n%s", r.dir, err, out)
		}
	}
	outA, outB := filepath.Join(runs[0].dir, "out"), filepath.Join(runs[1].dir, "out")
	diffs, err := repro.CompareDirs(outA, outB)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("not reproducible: %s", d)
	}
	ents, _ := os.ReadDir(outA)
	if len(ents) < 7 {
		t.Errorf("only %d outputs in %s, want image, kernel, initramfs, usr, release, signature and summary", len(ents), outA)
	}
}

// buildImgbuild builds this source tree's imgbuild into dir; it returns
// the tree and the executable.
func buildImgbuild(t *testing.T, dir string) (src, bin string) {
	t.Helper()
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "imgbuild")
	goBuild := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/imgbuild")
	goBuild.Dir = src
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return src, bin
}

func copyManifest(t *testing.T, src, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(src, "manifests", "minimal.yaml"), filepath.Join(dir, "minimal.yaml"))
	return filepath.Join(dir, "minimal.yaml")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func withoutEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}
