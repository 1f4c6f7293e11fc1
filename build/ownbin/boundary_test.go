package ownbin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBoundary is the compiler-checked line between the machine and the
// build host: no on-image program may depend on a host package.
func TestBoundary(t *testing.T) {
	for _, p := range Programs {
		t.Run(p.Name, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", p.Package)
			cmd.Dir = "../.."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", p.Package, err)
			}
			g := Graph{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(line)
				g[f[0]] = f[1:]
			}
			if len(g) < 10 {
				t.Fatalf("go list -deps %s gave %d packages", p.Package, len(g))
			}
			for _, bad := range CheckBoundary(p, g) {
				t.Error(bad)
			}
		})
	}
}

func TestCheckBoundaryFindsHostImports(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	g := Graph{
		m("rootfs/sysinit"):       {m("rootfs/sysinit/netup"), m("contract"), "fmt"},
		m("rootfs/sysinit/netup"): {m("images/disk"), m("internal/fsutil")},
		m("images/disk"):          {"github.com/diskfs/go-diskfs"},
		m("contract"):             {m("contract/verity"), "github.com/diskfs/go-diskfs/disk"},
		m("initramfs/stage1"):     {"github.com/diskfs/go-diskfs", m("sign/secureboot")},
	}
	got := CheckBoundary(Program{Name: "sysinit", Package: "./rootfs/sysinit"}, g)
	want := []string{
		"sysinit imports github.com/diskfs/go-diskfs/disk, a build-host library: rootfs/sysinit -> contract -> github.com/diskfs/go-diskfs/disk",
		"sysinit imports " + m("images/disk") + ", a build-host package",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d:\n got %s\nwant prefix %s", i, got[i], want[i])
		}
	}
	if !strings.HasSuffix(got[1], ": rootfs/sysinit -> rootfs/sysinit/netup -> images/disk") {
		t.Errorf("chain: %s", got[1])
	}
	// stage-1 may format ROOT with go-diskfs, but not sign UKIs.
	got = CheckBoundary(Program{Name: "stage1", Package: "./initramfs/stage1"}, g)
	if len(got) != 1 || !strings.Contains(got[0], "sign/secureboot, a build-host package") {
		t.Errorf("stage1: %q", got)
	}
}
