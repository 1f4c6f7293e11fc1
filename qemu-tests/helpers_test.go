// Package qemutests boots the images imgbuild builds, under QEMU with
// OVMF, from the same code path a user runs, and checks them from the
// console and from the host.
package qemutests

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/qemu"

	"github.com/imgbuild/imgbuild/internal/sparse"
)

// built is one image built for the tests, shared by every test that
// boots it (each boots its own copy).
type built struct {
	once sync.Once
	res  *build.Result
	dir  string
	err  error
}

var images = map[string]*built{"minimal": {}, "etcd": {}}

// buildImage builds manifests/NAME.yaml once per test binary. The
// manifest is copied without its lock file so that the tests pin the
// archive's current packages and do not break when it moves on.
func buildImage(t *testing.T, name string) *build.Result {
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

func artifact(t *testing.T, res *build.Result, kind string) string {
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
func diskCopy(t *testing.T, res *build.Result) string {
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// vm is a booted test VM with a console we can type into.
type vm struct {
	*qemu.VM
	t     *testing.T
	stdin *io.PipeWriter
	log   *os.File
}

// boot starts the image through OVMF; vars is the VM's UEFI variable
// store, kept across its boots.
func boot(t *testing.T, disk, vars string, mem int, fwds ...qemu.Forward) *vm {
	t.Helper()
	return start(t, qemu.Config{Disk: disk, Vars: vars, MemoryMiB: mem, Forwards: fwds})
}

// start boots cfg with a console we can type into, logged to a file
// that a failing test prints.
func start(t *testing.T, cfg qemu.Config) *vm {
	t.Helper()
	pr, pw := io.Pipe()
	logf, err := os.Create(filepath.Join(t.TempDir(), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cfg.Stdin, cfg.Output = pr, logf
	v, err := qemu.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	b := &vm{VM: v, t: t, stdin: pw, log: logf}
	t.Cleanup(func() {
		pw.Close()
		v.Kill()
		cancel()
		logf.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("console:\n%s", tail(string(data), 6000))
		}
	})
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// expect waits for a console line matching re (after line from) and
// fails the test on a boot failure marker or timeout.
func (v *vm) expect(from int, re string, timeout time.Duration) (int, string) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	i, line, err := v.Console.Expect(ctx, from, regexp.MustCompile(re), qemu.FailurePattern)
	if err != nil {
		v.t.Fatalf("waiting for %q: %v", re, err)
	}
	return i, line
}

// run types a command into the console shell and waits for its marked
// output, returning the output line.
func (v *vm) run(cmd string, timeout time.Duration) string {
	v.t.Helper()
	// The shell echoes what we type: quotes split the tag there, so only
	// the command's output matches.
	n := time.Now().UnixNano() % 1e9
	tag := fmt.Sprintf("OUT%d:", n)
	from := v.Console.Len()
	fmt.Fprintf(v.stdin, "echo OUT\"\"%d:$(%s)\n", n, cmd)
	_, line := v.expect(from, tag, timeout)
	return strings.TrimSpace(line[strings.Index(line, tag)+len(tag):])
}

// powerdown presses the power button and waits for QEMU to exit.
func (v *vm) powerdown() {
	v.t.Helper()
	from := v.Console.Len()
	if err := v.Powerdown(); err != nil {
		v.t.Fatal(err)
	}
	v.expect(from, `imgbuild-sysinit: power off`, 60*time.Second)
	// The guest has synced and remounted ROOT read-only before this
	// line. Under TCG the firmware's power-off sometimes never reaches
	// QEMU; then stop it ourselves rather than wait.
	select {
	case <-v.Done():
	case <-time.After(20 * time.Second):
		v.t.Log("QEMU still running 20s after the guest powered off; killing it")
		v.Kill()
	}
}
