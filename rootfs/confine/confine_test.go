package confine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests run their subject in a child, the test binary again with
// CONFINE_CHILD naming what it does, since a policy is for good.
func TestMain(m *testing.M) {
	if what := os.Getenv("CONFINE_CHILD"); what != "" {
		if err := child(what, os.Getenv("CONFINE_ARG")); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(what, arg string) error {
	switch what {
	case "probe": // after exec: the filter holds
		return wantErrno("unshare", unix.Unshare(unix.CLONE_NEWUTS), unix.EPERM)
	case "seccomp":
		if err := Apply(Policy{Seccomp: SeccompDefault, NoNewPrivs: true}); err != nil {
			return err
		}
		if err := wantErrno("unshare", unix.Unshare(unix.CLONE_NEWUTS), unix.EPERM); err != nil {
			return err
		}
		if err := wantErrno("mount", unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""), unix.EPERM); err != nil {
			return err
		}
		_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
		if err := wantErrno("clone3", errnoOrNil(e), unix.ENOSYS); err != nil {
			return err
		}
		_, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}})
		if err := wantErrno("clone(CLONE_NEWNET)", err, unix.EPERM); err != nil {
			return err
		}
		// TSYNC: another thread is filtered too.
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			done <- wantErrno("unshare on another thread", unix.Unshare(unix.CLONE_NEWUTS), unix.EPERM)
		}()
		if err := <-done; err != nil {
			return err
		}
		// What the filter allows still works, fork and exec among it.
		out, err := self("probe", "").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			return fmt.Errorf("probe after exec: %v: %s", err, out)
		}
		return nil
	case "view":
		dir := arg
		if err := Apply(Policy{ReadOnly: true, Writable: []string{filepath.Join(dir, "rw")}}); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "rw", "f"), []byte("x"), 0o644); err != nil {
			return fmt.Errorf("writable path: %w", err)
		}
		if err := wantErrno("write beside it", os.WriteFile(filepath.Join(dir, "ro"), []byte("x"), 0o644), unix.EROFS); err != nil {
			return err
		}
		if err := os.WriteFile("/tmp/confine-private", []byte("x"), 0o644); err != nil {
			return fmt.Errorf("private /tmp: %w", err)
		}
		if err := os.WriteFile("/dev/null", []byte("x"), 0); err != nil {
			return fmt.Errorf("/dev/null: %w", err)
		}
		return nil
	case "cred":
		if err := Apply(Policy{Caps: []string{"NET_BIND_SERVICE"}, Cred: &Cred{UID: 65534, GID: 65534}}); err != nil {
			return err
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000400"} {
			if !strings.Contains(string(status), want+"\n") {
				return fmt.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown child %q", what)
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func wantErrno(what string, err error, want syscall.Errno) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("%s: got %v, want %v", what, err, want)
	}
	return nil
}

func self(what, arg string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), "CONFINE_CHILD="+what, "CONFINE_ARG="+arg)
	return cmd
}

func runChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts, the bounding set, another user")
	}
}

func TestSeccompDefault(t *testing.T) {
	needRoot(t) // as root, only the filter stands between the calls and success
	runChild(t, self("seccomp", ""))
}

func TestReadOnlyView(t *testing.T) {
	needRoot(t)
	// Not below /tmp, which the view replaces with a private one.
	dir, err := os.MkdirTemp("/var/tmp", "confine-view")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Remove("/tmp/confine-private")
	cmd := self("view", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	runChild(t, cmd)
	// None of it reached this namespace.
	if err := os.WriteFile(filepath.Join(dir, "ro"), []byte("x"), 0o644); err != nil {
		t.Errorf("the test's own view became read-only: %v", err)
	}
	if _, err := os.Stat("/tmp/confine-private"); err == nil {
		t.Error("the private /tmp wrote to the machine's")
	}
}

// The confine verb becomes the user itself, so that a non-root service's
// bounding set is cut too (a process already its user's cannot cut it).
func TestCredAfterBounding(t *testing.T) {
	needRoot(t)
	runChild(t, self("cred", ""))
}

func TestPolicyKeepsEmptyCaps(t *testing.T) {
	for _, caps := range [][]string{nil, {}} {
		js, err := json.Marshal(Policy{Caps: caps})
		if err != nil {
			t.Fatal(err)
		}
		var p Policy
		if err := json.Unmarshal(js, &p); err != nil {
			t.Fatal(err)
		}
		if (p.Caps == nil) != (caps == nil) {
			t.Errorf("caps %#v came back %#v (%s): [] drops all, nil keeps all", caps, p.Caps, js)
		}
	}
}

func TestUnknownProfile(t *testing.T) {
	if err := installSeccomp("strict"); err == nil || !strings.Contains(err.Error(), `"strict"`) {
		t.Errorf("got %v", err)
	}
}
