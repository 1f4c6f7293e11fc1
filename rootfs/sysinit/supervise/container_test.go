package supervise

import (
	"encoding/json"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

// A container service starts as sysinit's init verb, in its own
// namespaces, given its final environment and still as root.
func TestContainerStart(t *testing.T) {
	for _, network := range []string{"host", "none"} {
		s := &service{sup: &Supervisor{}, cfg: contract.Service{Name: "app", Command: "/app/server", User: "1000",
			Env: []string{"A=image"}, Container: &contract.Container{Root: "/usr/lib/imgbuild/images/app/rootfs", Network: network}}}
		sys := &syscall.SysProcAttr{}
		path, argv, err := s.containerStart([]string{"A=image", "B=machine"}, sys)
		if err != nil {
			t.Fatal(err)
		}
		if path != "/proc/self/exe" || len(argv) != 3 || argv[1] != contract.ContainerVerb {
			t.Fatalf("%s: start %s %q", network, path, argv)
		}
		var got contract.Service
		if err := json.Unmarshal([]byte(argv[2]), &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Env, []string{"A=image", "B=machine"}) || got.User != "1000" || got.Container.Root != s.cfg.Container.Root {
			t.Errorf("%s: the init gets %+v", network, got)
		}
		want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
		if network == "none" {
			want |= unix.CLONE_NEWNET
		}
		if sys.Cloneflags != want || sys.Credential != nil {
			t.Errorf("%s: clone flags %#x (want %#x), credential %+v (want none: the init drops)", network, sys.Cloneflags, want, sys.Credential)
		}
	}
	// procAttr leaves the user to the init and the machine's PATH out.
	s := &service{sup: &Supervisor{opts: Options{BaseEnv: []string{"PATH=/usr/bin"}}}, cfg: contract.Service{Name: "app", Command: "x", User: "nobody-here",
		Env: []string{"PATH=/app"}, Container: &contract.Container{Network: "host"}}}
	attr, cleanup, outputs, err := s.procAttr()
	if err != nil {
		t.Fatalf("procAttr looked the user up on the machine: %v", err)
	}
	cleanup()
	for _, r := range outputs {
		r.Close()
	}
	if !slices.Equal(attr.Env, []string{"PATH=/app"}) || attr.Sys.Credential != nil {
		t.Errorf("env %q, credential %+v", attr.Env, attr.Sys.Credential)
	}
}
