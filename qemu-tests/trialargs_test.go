package qemutests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// TestTrialArgsFromOldAgent: an agent from before kernel_args derives
// the new slot's entry from the booted one and keeps v1's arguments. The
// test makes that entry itself: the agent installs v2, QEMU is stopped
// before the reboot, and v2KernelArg is taken out of USR-B's entry with
// mtools. v2's first trial boot rewrites its entry with its record's
// arguments and reboots before any service; the boot after runs v2 with
// them, a full trial, and is marked good.
func TestTrialArgsFromOldAgent(t *testing.T) {
	skipShort(t)
	cfg := v1OfferedV2(t)
	img := cfg.Disk
	v := vmtest.Start(t, cfg)
	// The agent syncs the ESP before this line and reboots right after.
	v.Expect(0, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 8*time.Minute)
	v.Kill()
	<-v.Done()

	fs := espImage(t, img)
	entry := "::/" + contract.EntryPath("b", contract.DefaultTries)
	local := filepath.Join(t.TempDir(), "entry.conf")
	mtools(t, "mcopy", "-i", fs, entry, local)
	text, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), " "+v2KernelArg) {
		t.Fatalf("the agent's entry for v2 lacks %s:\n%s", v2KernelArg, text)
	}
	old := strings.Replace(string(text), " "+v2KernelArg, "", 1)
	if err := os.WriteFile(local, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	mtools(t, "mcopy", "-o", "-i", fs, local, entry)

	v = vmtest.Start(t, cfg)
	i, _ := v.Expect(0, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	i, line := v.Expect(i, `imgbuild-sysinit: kernel arguments of 2.0.0 .*rewritten with them, the try given back; rebooting`, 2*time.Minute)
	t.Logf("%s", line)
	i, _ = v.Expect(i, `imgbuild-sysinit: reboot`, time.Minute)
	i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	// Not the agent's "marked good (updated from 1.0.0)": the kill came
	// before its state recorded the install, as a power cut may.
	v.Expect(i, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
	if got := v.Run("cat /proc/cmdline", time.Minute); !slices.Contains(strings.Fields(got), v2KernelArg) {
		t.Errorf("v2 runs with /proc/cmdline %q: without its %s", got, v2KernelArg)
	}
	for _, l := range v.Console.Lines() {
		if strings.Contains(l, "TRIAL FAILED") {
			t.Errorf("a trial failed: %s", l)
		}
	}
}
