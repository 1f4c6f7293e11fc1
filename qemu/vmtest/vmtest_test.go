package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
)

// fakeQEMU puts a qemu-system-x86_64 on PATH that prints a boot's lines
// and then runs what is typed into it as a shell would, so that the
// harness is tested without a VM.
func fakeQEMU(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

const bootScript = `echo 'imgbuild-stage1: started (kernel 6.1, 1.00s since boot)'
echo 'imgbuild-sysinit: healthy (1 services, 2.00s since boot)'
while read -r line; do
	case "$line" in
	poweroff) echo 'imgbuild-sysinit: power off'; exit 0;;
	*) eval "$line";;
	esac
done
`

func TestHarness(t *testing.T) {
	fakeQEMU(t, bootScript)
	v := Start(t, qemu.Config{Kernel: "vmlinuz"})
	h := v.ExpectHealthy(5 * time.Second)
	if h.Index != 1 || !strings.HasPrefix(h.Line, "imgbuild-sysinit: healthy") {
		t.Errorf("ExpectHealthy = %d %q", h.Index, h.Line)
	}
	if i, _ := v.Expect(0, `stage1: started`, 5*time.Second); i != 0 {
		t.Errorf("Expect: line %d, want 0", i)
	}
	if got := v.Run("echo hello   there", 5*time.Second); got != "hello there" {
		t.Errorf("Run = %q", got)
	}
	v.Type("poweroff\n")
	if err := v.WaitExit(5 * time.Second); err != nil {
		t.Errorf("WaitExit: %v", err)
	}
	if out := v.Output(); !strings.HasSuffix(out, "imgbuild-sysinit: power off") {
		t.Errorf("Output:\n%s", out)
	}
}

// fatalRecorder is a test whose Fatal ends its goroutine and is kept.
type fatalRecorder struct {
	*testing.T
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// fatal runs f as a test body and returns what it failed with.
func fatal(t *testing.T, f func(tb testing.TB)) string {
	r := &fatalRecorder{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestVMTimeout(t *testing.T) {
	fakeQEMU(t, "echo booting\nexec sleep 60\n")
	msg := fatal(t, func(tb testing.TB) {
		v := Start(tb, qemu.Config{Kernel: "vmlinuz"}, WithVMTimeout(time.Second))
		v.Expect(0, `never`, 30*time.Second)
	})
	if !strings.Contains(msg, "limit passed") {
		t.Errorf("a VM past its limit: %q, want the limit named", msg)
	}
}

func TestFailureLine(t *testing.T) {
	fakeQEMU(t, "echo 'imgbuild-stage1: FATAL: find partitions'\nexec sleep 60\n")
	msg := fatal(t, func(tb testing.TB) {
		Start(tb, qemu.Config{Kernel: "vmlinuz"}).ExpectHealthy(10 * time.Second)
	})
	if !strings.Contains(msg, "FATAL: find partitions") {
		t.Errorf("a boot failure line: %q, want it named", msg)
	}
}

func TestOpenNetworkRefused(t *testing.T) {
	fakeQEMU(t, bootScript)
	if msg := fatal(t, func(tb testing.TB) { Start(tb, qemu.Config{Kernel: "vmlinuz", OpenNetwork: true}) }); !strings.Contains(msg, "OpenNetwork") {
		t.Errorf("OpenNetwork: %q, want it refused", msg)
	}
}
