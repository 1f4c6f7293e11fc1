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
	"github.com/imgbuild/imgbuild/rootfs/confine"
)

// TestRun starts the probe as a container service the way the
// supervisor does and reads what it saw of its root.
func TestRun(t *testing.T) {
	root, state, data, init := probeTree(t)
	// The second run is confined as an image service is by default: it
	// starts through the confine verb, which becomes the user itself.
	var confined contract.Service
	json.Unmarshal(data, &confined)
	confined.Caps, confined.NoNewPrivs, confined.Seccomp = confine.ContainerDefault, true, confine.SeccompDefault
	confinedData, _ := json.Marshal(confined)
	for run := 1; run <= 2; run++ {
		arg := data
		if run == 2 {
			arg = confinedData
		}
		cmd := exec.Command(init, contract.ContainerVerb, string(arg))
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
		for _, want := range []string{"hostname=app\n", "pid1=" + init + " " + contract.ContainerVerb + " ", "uid=1000\n", "secret=only in the image (<nil>)", "host-os-release=false\n",
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

// probeTree lays out an image's tree with the probe, its user and a
// file only it has; data is the service that runs it -report, init the
// static program to start it with (sysinit's verbs).
func probeTree(t testing.TB) (root, state string, data []byte, init string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for namespaces and mounts")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs go to build the probe")
	}
	dir := t.TempDir()
	// Searchable by the image's user, which runs the probe bare too.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root = filepath.Join(dir, "rootfs")
	for _, d := range []string{"app", "etc", "proc", "dev", "tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []string{"probe", "init"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, prog), "./testdata/"+prog)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", prog, err, out)
		}
	}
	if err := os.Rename(filepath.Join(dir, "probe"), filepath.Join(root, "app/probe")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "app/secret.txt"), []byte("only in the image\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("app:x:1000:1000::/home/app:/bin/false\n"), 0o644)
	state = filepath.Join(dir, "var/lib/app")
	svc := contract.Service{Name: "app", Command: "probe", Args: []string{"-report"}, User: "app",
		Env:       []string{"PATH=/app", "STATE=/data", "MODE=manifest"},
		Container: &contract.Container{Root: root, Workdir: "/app", Network: "none", State: &contract.Bind{Source: state, Target: "/data"}}}
	data, _ = json.Marshal(svc)
	return root, state, data, filepath.Join(dir, "init")
}

// BenchmarkStart is a container service's start cost against the same
// program run bare, each to its exit (the probe's one report): the
// init, its namespaces and mounts, and the confine verb with the image
// defaults (Podman's capabilities, no_new_privs, seccomp).
func BenchmarkStart(b *testing.B) {
	root, _, data, init := probeTree(b)
	var svc contract.Service
	json.Unmarshal(data, &svc)
	svc.Container.Network, svc.Container.State = "host", nil
	plain, _ := json.Marshal(svc)
	svc.Caps, svc.NoNewPrivs, svc.Seccomp = confine.ContainerDefault, true, confine.SeccompDefault
	confined, _ := json.Marshal(svc)
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	for _, c := range []struct {
		name  string
		argv  []string
		flags uintptr
	}{
		{"bare", []string{filepath.Join(root, "app/probe"), "-report"}, 0},
		{"container", []string{init, contract.ContainerVerb, string(plain)}, flags},
		{"container-confined", []string{init, contract.ContainerVerb, string(confined)}, flags},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(c.argv[0], c.argv[1:]...)
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: c.flags}
				if c.flags == 0 {
					cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 1000, Gid: 1000}
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
		})
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
