// Package qemutests boots the images imgbuild builds, under QEMU with
// OVMF, from the same code path a user runs, and checks them from the
// console and from the host.
package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"

	"github.com/imgbuild/imgbuild/internal/sparse"
)

// built is one image built for the tests, shared by every test that
// boots it (each boots its own copy).
type built struct {
	once sync.Once
	res  *output.Result
	dir  string
	err  error
}

var images = map[string]*built{"minimal": {}, "etcd": {}, "cluster": {}}

// buildImage builds manifests/NAME.yaml once per test binary. The
// manifest is copied without its lock file so that the tests pin the
// archive's current packages and do not break when it moves on.
func buildImage(t *testing.T, name string) *output.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("builds an image (minutes)")
	}
	b := images[name]
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "imgbuild-qemutest-"+name+"-")
		if b.err != nil {
			return
		}
		src, err := os.ReadFile(filepath.Join("..", "manifests", name+".yaml"))
		if err != nil {
			b.err = err
			return
		}
		mf := filepath.Join(b.dir, name+".yaml")
		if b.err = os.WriteFile(mf, src, 0o644); b.err != nil {
			return
		}
		start := time.Now()
		b.res, b.err = build.Run(context.Background(), build.Options{Manifest: mf, OutDir: filepath.Join(b.dir, "out")})
		fmt.Fprintf(os.Stderr, "built %s in %.1fs\n", name, time.Since(start).Seconds())
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.res
}

// manifestCopy copies manifests/NAME.yaml into dir, without its lock
// file, so that a build pins the archive's current packages and the
// tests do not break when it moves on.
func manifestCopy(t *testing.T, name, dir string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "manifests", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(mf, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return mf
}

// minimalWith is manifests/minimal.yaml with, for each pair of strings,
// the first occurrence of the first replaced by the second. A first
// string the manifest lacks is an error: the shipped manifest changed
// under the test, which must then change too.
func minimalWith(pairs ...string) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join("..", "manifests", "minimal.yaml"))
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if !bytes.Contains(src, []byte(pairs[i])) {
			return nil, fmt.Errorf("manifests/minimal.yaml no longer has %q; update this test", pairs[i])
		}
		src = bytes.Replace(src, []byte(pairs[i]), []byte(pairs[i+1]), 1)
	}
	return src, nil
}

// writeMinimalWith writes minimalWith's manifest into dir.
func writeMinimalWith(t *testing.T, dir string, pairs ...string) string {
	t.Helper()
	src, err := minimalWith(pairs...)
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(dir, "minimal.yaml")
	if err := os.WriteFile(mf, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return mf
}

func artifact(t *testing.T, res *output.Result, kind string) string {
	t.Helper()
	for _, a := range res.Artifacts {
		if a.Kind == kind {
			return a.Path
		}
	}
	t.Fatalf("build result has no %s artifact", kind)
	return ""
}

// diskCopy copies the image into the test's temp dir (sparse), so each
// test boots its own disk.
func diskCopy(t *testing.T, res *output.Result) string {
	t.Helper()
	src := artifact(t, res, "disk")
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := sparse.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	return dst
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := qemu.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// vm is a booted test VM (the harness every VM test uses).
type vm = vmtest.VM

// boot starts the image through OVMF; vars is the VM's UEFI variable
// store, kept across its boots.
func boot(t *testing.T, disk, vars string, mem int, fwds ...qemu.Forward) *vm {
	t.Helper()
	return vmtest.Start(t, qemu.Config{Disk: disk, Vars: vars, MemoryMiB: mem, Forwards: fwds})
}
