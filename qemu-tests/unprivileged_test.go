package qemutests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBuildAsUnprivilegedUser builds the minimal image as an ordinary
// user: CI runs as root, which would hide a mount, a loop device or a
// write outside the user's own directories. With the same lock file the
// image must come out byte for byte as the one built as root.
func TestBuildAsUnprivilegedUser(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	rootDir := filepath.Dir(filepath.Dir(artifact(t, res, "disk")))

	home := t.TempDir()
	os.Chmod(filepath.Dir(home), 0o755)
	bin := filepath.Join(home, "imgbuild")
	build := exec.Command("go", "build", "-o", bin, "../cmd/imgbuild")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src := filepath.Join(home, "src")
	copySource(t, "..", src)
	work := filepath.Join(home, "work")
	os.MkdirAll(work, 0o755)
	for _, f := range []string{"minimal.yaml", "minimal.lock"} {
		data, err := os.ReadFile(filepath.Join(rootDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, f), data, 0o644)
	}

	cmd := exec.Command(bin, "build", "--locked", "-f", "minimal.yaml", "-o", "out")
	cmd.Dir = work
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "IMGBUILD_SOURCE=" + src,
		"IMGBUILD_CACHE=" + filepath.Join(home, "cache"), "GOCACHE=" + filepath.Join(home, "gocache"),
		"GOMODCACHE=" + filepath.Join(home, "gomod"), "GOPATH=" + filepath.Join(home, "go"), "CI=true"}
	if os.Getuid() == 0 {
		const nobody = 65534
		if err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		}); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("unprivileged build: %v\n%s", err, out.String())
	}
	t.Logf("%s", out.String())
	for _, kind := range []string{"disk", "initramfs", "usr", "kernel"} {
		ours, err1 := os.ReadFile(artifact(t, res, kind))
		theirs, err2 := os.ReadFile(filepath.Join(work, "out", filepath.Base(artifact(t, res, kind))))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", kind, err1, err2)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s built as an unprivileged user differs from the one built as root", kind)
		}
	}
}

// copySource copies imgbuild's tracked source files, which stage-1 and
// sysinit are built from, to a place the unprivileged user can read.
func copySource(t *testing.T, from, to string) {
	t.Helper()
	ls := exec.Command("git", "ls-files", "*.go", "go.mod", "go.sum")
	ls.Dir = from
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			continue // deleted in the work tree
		}
		dst := filepath.Join(to, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
