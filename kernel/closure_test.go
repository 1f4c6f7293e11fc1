package kernel

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func names(mods []Module) []string {
	var out []string
	for _, m := range mods {
		out = append(out, m.Name)
	}
	return out
}

// toolModinfo asks kmod's modinfo for one field of a module file.
func toolModinfo(t *testing.T, field, path string) []string {
	t.Helper()
	if _, err := exec.LookPath("modinfo"); err != nil {
		t.Fatalf("kmod's modinfo is not installed (CI must install kmod): %v", err)
	}
	out, err := exec.Command("modinfo", "-F", field, path).Output()
	if err != nil {
		t.Fatalf("modinfo -F %s %s: %v", field, path, err)
	}
	var vals []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			vals = append(vals, l)
		}
	}
	return vals
}

// checkAgainstModinfo checks a closure with kmod's modinfo: every module's
// name is what modinfo says, and each of its depends= appears earlier.
func checkAgainstModinfo(t *testing.T, k *Kernel, mods []Module) {
	t.Helper()
	idx, err := k.index()
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		if _, dup := pos[m.Name]; dup {
			t.Errorf("%s appears twice", m.Name)
		}
		pos[m.Name] = i
	}
	type result struct{ name, depends []string }
	results := make([]result, len(mods))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = result{toolModinfo(t, "name", m.Path), toolModinfo(t, "depends", m.Path)}
		}()
	}
	wg.Wait()
	for i, m := range mods {
		if got := results[i].name; len(got) != 1 || normalize(got[0]) != m.Name {
			t.Errorf("%s: modinfo says name %q", m.RelPath, got)
		}
		for _, line := range results[i].depends {
			for _, d := range splitList(line) {
				p, ok := pos[d]
				switch {
				case !ok && idx.builtin[d]:
				case !ok:
					t.Errorf("%s depends on %s (modinfo), which is not in the closure", m.Name, d)
				case p >= i:
					t.Errorf("%s comes before its dependency %s", m.Name, d)
				}
			}
		}
	}
}

func TestClosure(t *testing.T) {
	k := testKernel(t)
	tests := []struct {
		request []string
		want    []string // must be present (order checked separately)
	}{
		{[]string{"dm_verity"}, []string{"dm_mod", "dm_bufio", "dm_verity"}},
		{[]string{"dm-verity"}, []string{"dm_mod", "dm_bufio", "dm_verity"}},
		{[]string{"virtio_blk"}, []string{"virtio", "virtio_ring", "virtio_blk"}},
		{[]string{"vfat"}, []string{"fat", "vfat"}},
		{[]string{"ext4"}, nil},                        // built in
		{[]string{"nvme", "ext4"}, nil},                // built in
		{[]string{"libcrc32c"}, []string{"libcrc32c"}}, // softdep pre: crc32c
		{DefaultModules, []string{"virtio_pci", "dm_verity", "squashfs", "nls_cp437", "sd_mod", "ena", "sha256_ssse3"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.request, ","), func(t *testing.T) {
			mods, err := k.Closure(tc.request)
			if err != nil {
				t.Fatal(err)
			}
			got := names(mods)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("closure %v lacks %s", got, w)
				}
			}
			if tc.want == nil && len(got) != 0 {
				t.Errorf("closure of built-in modules is %v, want empty", got)
			}
			for _, m := range mods {
				if !strings.HasPrefix(m.Path, k.ModulesDir+"/") || !strings.HasSuffix(m.Path, m.RelPath) {
					t.Errorf("%s: path %s / rel %s do not agree with %s", m.Name, m.Path, m.RelPath, k.ModulesDir)
				}
			}
			checkAgainstModinfo(t, k, mods)
		})
	}
	// What stage-1 needs to load by device: the asked modules, their
	// device aliases, their dependencies.
	mods, err := k.Closure(DefaultModules)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Module{}
	for _, m := range mods {
		by[m.Name] = m
	}
	if m := by["virtio_pci"]; !m.Asked || !slices.ContainsFunc(m.DeviceAliases, func(a string) bool { return strings.HasPrefix(a, "pci:v00001AF4") }) {
		t.Errorf("virtio_pci: asked %v, device aliases %v", m.Asked, m.DeviceAliases)
	}
	if m := by["virtio_blk"]; !slices.Contains(m.Depends, "virtio") || !slices.Contains(m.Depends, "virtio_ring") {
		t.Errorf("virtio_blk depends on %v", m.Depends)
	}
	if m := by["virtio"]; m.Asked {
		t.Error("virtio, only a dependency, is marked asked")
	}
	if m := by["squashfs"]; !m.Asked || len(m.DeviceAliases) != 0 {
		t.Errorf("squashfs: asked %v, device aliases %v: want always loaded", m.Asked, m.DeviceAliases)
	}
}

// TestClosureSoftdeps checks, with modinfo's softdep field, that each
// "pre:" softdep the kernel has as a module comes before its module.
func TestClosureSoftdeps(t *testing.T) {
	k := testKernel(t)
	idx, err := k.index()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, root := range []string{"libcrc32c", "xts", "btrfs", "nfsd"} {
		m, ok := idx.modules[root]
		if !ok {
			continue
		}
		mods, err := k.Closure([]string{root})
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int{}
		for i, mm := range mods {
			pos[mm.Name] = i
		}
		pre := softdepPre(toolModinfo(t, "softdep", m.path))
		for _, s := range pre {
			targets, _ := idx.lookup(s)
			for _, tm := range targets {
				found++
				if p, ok := pos[tm.name]; !ok || p > pos[root] {
					t.Errorf("%s: softdep %s (%s) missing or after it in %v", root, s, tm.name, names(mods))
				}
			}
		}
	}
	if found == 0 {
		t.Error("no softdep resolved to a module; the test checked nothing")
	}
}

func TestClosureUnknown(t *testing.T) {
	k := testKernel(t)
	_, err := k.Closure([]string{"virtio_blk", "dm_veritty"})
	var ue *UnknownModuleError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not an UnknownModuleError", err)
	}
	if ue.Name != "dm_veritty" || !slices.Contains(ue.Suggestions, "dm_verity") {
		t.Errorf("error %+v: want name dm_veritty and suggestion dm_verity", ue)
	}
	if !strings.Contains(err.Error(), "dm_veritty") {
		t.Errorf("message %q does not name the module", err)
	}
	if _, err := k.Closure([]string{"imgbuild_no_such_module"}); err == nil {
		t.Error("unknown module accepted")
	}
}

// TestClosureFullTree asks for every module and checks the order against
// kmod's modinfo, file by file. It also times the index and the closure.
func TestClosureFullTree(t *testing.T) {
	k := testKernel(t)
	start := time.Now()
	idx, err := k.index()
	if err != nil {
		t.Fatal(err)
	}
	indexTime := time.Since(start)
	var all []string
	for n := range idx.modules {
		all = append(all, n)
	}
	slices.Sort(all)
	start = time.Now()
	mods, err := k.Closure(all)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d modules: index %v, closure %v", len(mods), indexTime, time.Since(start))
	files, err := moduleFiles(k.ModulesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != len(files) {
		t.Errorf("closure of every module has %d entries, the tree %d files", len(mods), len(files))
	}
	checkAgainstModinfo(t, k, mods)
}

// mustTool runs a reference tool; a missing one fails the test.
func mustTool(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Fatalf("reference tool %s is not installed: %v", args[0], err)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// qemu_fw_cfg's ACPI alias globs its bus ("acpi*:"): it must still count
// as a device alias, or stage-1 never loads the module and the
// per-machine config in fw_cfg is never seen.
func TestDeviceAliasesGlobbedBus(t *testing.T) {
	got := deviceAliases([]string{"of:N*T*Cqemu,fw-cfg-mmioC*", "acpi*:QEMU0002:*", "fs-vfat", "cpu:type:x86,ven*fam*mod*:feature:*0017*"})
	want := []string{"of:N*T*Cqemu,fw-cfg-mmioC*", "acpi*:QEMU0002:*", "cpu:type:x86,ven*fam*mod*:feature:*0017*"}
	if len(got) != len(want) {
		t.Fatalf("deviceAliases = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("deviceAliases = %q, want %q", got, want)
		}
	}
}
