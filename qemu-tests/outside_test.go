package qemutests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// TestOutsideCheckout uses imgbuild as someone who installed it would:
// the binary make builds (the on-image programs embedded), copied with a
// manifest and its lock into an empty directory with no go.mod above
// it, run with a PATH that holds no go and without GOROOT, GOPATH or
// IMGBUILD_SOURCE. It must build there, boot to healthy, and make the
// same bytes as the in-checkout build that compiles the programs from
// source.
func TestOutsideCheckout(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	tmp := t.TempDir()
	bin := makeImgbuild(t, filepath.Join(tmp, "src"))

	work := filepath.Join(tmp, "work")
	os.MkdirAll(work, 0o755)
	for dir := work; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			t.Fatalf("%s has a go.mod above it (%s)", work, dir)
		}
	}
	// The lock of the shared build: its pins are what the archive holds
	// today, and the same lock makes both builds comparable.
	built := filepath.Dir(filepath.Dir(artifact(t, res, "disk")))
	for _, f := range []string{"minimal.yaml", "minimal.lock"} {
		copyTo(t, filepath.Join(built, f), filepath.Join(work, f), 0o644)
	}
	copyTo(t, bin, filepath.Join(work, "imgbuild"), 0o755)
	env := []string{"HOME=" + tmp, "PATH=" + pathWithoutGo(t, filepath.Join(tmp, "path")),
		"IMGBUILD_CACHE=" + filepath.Join(tmp, "cache"), "CI=true"}

	out := runIn(t, work, env, "./imgbuild", "version")
	if !strings.Contains(out, "on-image programs: embedded") {
		t.Fatalf("imgbuild version of the make-built binary:\n%s", out)
	}
	t.Log(strings.TrimSpace(runIn(t, work, env, "./imgbuild", "build", "--locked", "-f", "minimal.yaml", "-o", "out")))
	for _, kind := range []string{"disk", "initramfs", "usr"} {
		ours, err1 := os.ReadFile(artifact(t, res, kind))
		theirs, err2 := os.ReadFile(filepath.Join(work, "out", filepath.Base(artifact(t, res, kind))))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", kind, err1, err2)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s built with the embedded programs differs from the one built from source", kind)
		}
	}
	out = runIn(t, work, env, "./imgbuild", "run", "out/minimal.img", "--until-healthy", "--timeout", "6m", "-q", "--forward", "0:8080")
	if !strings.Contains(out, "imgbuild-sysinit: healthy") {
		t.Fatalf("imgbuild run --until-healthy exited 0 without the healthy line:\n%s", vmtest.Tail(out, 6000))
	}
}

// makeImgbuild runs make bin/imgbuild in a copy of the source tree (the
// generator writes into the tree it runs in), with the pure-Go encoders
// (TAGS=) of the in-process build it is compared with, since make's
// default links libzstd, whose USR bytes differ; and checks that the
// programs it embedded are byte for byte the ones the source build
// makes.
func makeImgbuild(t *testing.T, src string) string {
	t.Helper()
	ls := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard")
	ls.Dir = ".."
	files, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		if fi, err := os.Stat(filepath.Join("..", f)); err == nil {
			copyTo(t, filepath.Join("..", f), filepath.Join(src, f), fi.Mode().Perm())
		}
	}
	if out, err := exec.Command("make", "-C", src, "bin/imgbuild", "TAGS=").CombinedOutput(); err != nil {
		t.Fatalf("make bin/imgbuild: %v\n%s", err, out)
	}
	fromSource := t.TempDir()
	for _, p := range ownbin.Programs {
		path := filepath.Join(fromSource, p.Name)
		if err := gobuild.Own(context.Background(), "..", ownbin.Arch, p.Package, path); err != nil {
			t.Fatal(err)
		}
		want, err1 := os.ReadFile(path)
		got, err2 := os.ReadFile(filepath.Join(src, "build", "ownbin", ownbin.Dir, p.Name))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", p.Name, err1, err2)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("embedded %s (%d bytes) differs from the one built from source (%d bytes)", p.Name, len(got), len(want))
		}
	}
	return filepath.Join(src, "bin", "imgbuild")
}

// pathWithoutGo links every program in the directories of the tools a
// build and a boot run (apt-get, apt-cache, dpkg, QEMU) into dir, all but
// go and gofmt: a host with the tools but no Go toolchain.
func pathWithoutGo(t *testing.T, dir string) string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg", "qemu-system-x86_64"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		ents, err := os.ReadDir(filepath.Dir(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() == "go" || e.Name() == "gofmt" {
				continue
			}
			os.Symlink(filepath.Join(filepath.Dir(p), e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "go")); err == nil {
		t.Fatal("go is on the test's PATH")
	}
	return dir
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, vmtest.Tail(out.String(), 6000))
	}
	return out.String()
}

func copyTo(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}
