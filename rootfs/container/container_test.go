package container

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

func TestMain(m *testing.M) {
	// The supervisor's way in: this test binary plays sysinit.
	if len(os.Args) > 1 && os.Args[1] == contract.ContainerVerb {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestRun starts the probe as a container service the way the
// supervisor does and reads what it saw of its root.
func TestRun(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for namespaces and mounts")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs go to build the probe")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"app", "etc", "proc", "dev", "tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, "app/probe"), "./testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(root, "app/secret.txt"), []byte("only in the image\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("app:x:1000:1000::/home/app:/bin/false\n"), 0o644)
	state := filepath.Join(dir, "var/lib/app")
	svc := contract.Service{Name: "app", Command: "probe", Args: []string{"-report"}, User: "app",
		Env:       []string{"PATH=/app", "STATE=/data", "MODE=manifest"},
		Container: &contract.Container{Root: root, Workdir: "/app", Network: "none", State: &contract.Bind{Source: state, Target: "/data"}}}
	data, _ := json.Marshal(svc)
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(os.Args[0], contract.ContainerVerb, string(data))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET}
		if err := cmd.Run(); err != nil {
			if strings.Contains(err.Error(), "operation not permitted") {
				t.Skipf("no namespaces here: %v", err)
			}
			t.Fatalf("run %d: %v\n%s%s", run, err, out.String(), errOut.String())
		}
		got := out.String()
		for _, want := range []string{"hostname=app\n", "pid1=" + os.Args[0] + " " + contract.ContainerVerb + " ", "uid=1000\n", "secret=only in the image (<nil>)", "host-os-release=false\n",
			"write-root=true\n", "state-count=" + string(rune('0'+run)) + " (<nil>)", "env-mode=manifest\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("run %d: report lacks %q:\n%s%s", run, want, got, errOut.String())
			}
		}
		if strings.Contains(got, "usr") {
			t.Errorf("the container sees the machine's /usr:\n%s", got)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(state, &st); err != nil || st.Uid != 1000 {
		t.Errorf("state dir: uid %d, %v; want it made for uid 1000", st.Uid, err)
	}
	// The machine's mounts are untouched.
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), root) {
		t.Errorf("the container's mounts leaked into the test's namespace")
	}
}

func TestRunRefuses(t *testing.T) {
	if got := Main([]string{"{}"}); got != 127 {
		t.Errorf("a service without container: status %d, want 127", got)
	}
	if got := Main(nil); got != 127 {
		t.Errorf("no argument: status %d, want 127", got)
	}
}

func TestInImage(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	if p, err := inImage(root, "etc/passwd"); err != nil || p != filepath.Join(root, "etc/passwd") {
		t.Errorf("etc/passwd: %q, %v", p, err)
	}
	os.Symlink("/etc", filepath.Join(root, "usr"))
	if _, err := inImage(root, "usr/passwd"); err == nil || err.Error() != "the image's /usr is a symlink" {
		t.Errorf("through a symlink: %v", err)
	}
}
