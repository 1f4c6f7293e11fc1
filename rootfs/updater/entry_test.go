package updater

import (
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
)

func TestDeriveEntry(t *testing.T) {
	v1, v2 := newRelease("1.0.0", 4096), newRelease("2.0.0", 4096)
	booted := bootedEntry(t, v1)
	usrB := disk.PartitionGUID(testName, contract.USRB)
	got, err := DeriveEntry(booted, "a", "b", &v2.rec, usrB)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"1.0.0 (USR-A)", "2.0.0 (USR-B)", "version 1.0.0", "version 2.0.0",
		"/imgbuild/a/", "/imgbuild/b/", "imgbuild.slot=a", "imgbuild.slot=b",
		disk.PartitionGUID(testName, contract.USRA), usrB, v1.rec.VerityRoot, v2.rec.VerityRoot).Replace(booted)
	if got != want {
		t.Errorf("derived entry:\n%s\nwant:\n%s", got, want)
	}
	// The command line stage-1 parses names slot B throughout, and the
	// manifest's own arguments survive.
	opts := got[strings.Index(got, "options ")+len("options "):]
	c, err := contract.ParseCmdline(opts)
	if err != nil || c.Slot != "b" || c.USR != usrB || c.Verity != v2.rec.VerityRoot {
		t.Errorf("cmdline %+v, %v", c, err)
	}
	if !strings.Contains(opts, "quiet extra.flag=1") {
		t.Errorf("manifest arguments lost: %s", opts)
	}
	// Deriving back gives the original.
	back, err := DeriveEntry(got, "b", "a", &v1.rec, disk.PartitionGUID(testName, contract.USRA))
	if err != nil || back != booted {
		t.Errorf("round trip:\n%s\n%v", back, err)
	}
	uki := "title   x 1.0.0 (USR-A)\nversion 1.0.0\nsort-key imgbuild\nefi     /imgbuild/a/uki.efi\n"
	if got, err := DeriveEntry(uki, "a", "b", &v2.rec, usrB); err != nil || !strings.Contains(got, "efi     /imgbuild/b/uki.efi") {
		t.Errorf("UKI entry: %q, %v", got, err)
	}
	if _, err := DeriveEntry(booted, "b", "a", &v2.rec, usrB); err == nil {
		t.Error("an entry naming slot a was derived as if slot b were booted")
	}
	if _, err := DeriveEntry("title x\n", "a", "b", &v2.rec, usrB); err == nil {
		t.Error("an entry without linux or efi was derived")
	}
}

// TestDeriveEntryKernelArgs: a record with kernel_args decides the new
// entry's options line; the booted entry's arguments are not kept.
func TestDeriveEntryKernelArgs(t *testing.T) {
	v1, v2 := newRelease("1.0.0", 4096), newRelease("2.0.0", 4096)
	booted := bootedEntry(t, v1)
	root, esp := disk.PartitionGUID(testName, contract.ROOT), disk.PartitionGUID(testName, contract.ESP)
	usrB := disk.PartitionGUID(testName, contract.USRB)
	v2.rec.KernelArgs = []string{"console=ttyS0,115200", "panic=10", "imgbuild.root=PARTUUID=" + root,
		"imgbuild.esp=PARTUUID=" + esp, "release.test=v2", "loglevel=7"}
	got, err := DeriveEntry(booted, "a", "b", &v2.rec, usrB)
	if err != nil {
		t.Fatal(err)
	}
	want := "title   minimal 2.0.0 (USR-B)\nversion 2.0.0\nsort-key imgbuild\nlinux   /imgbuild/b/vmlinuz\ninitrd  /imgbuild/b/initrd\n" +
		"options console=ttyS0,115200 panic=10 imgbuild.root=PARTUUID=" + root + " imgbuild.esp=PARTUUID=" + esp +
		" release.test=v2 loglevel=7 imgbuild.slot=b imgbuild.usr=PARTUUID=" + usrB + " imgbuild.verity=" + v2.rec.VerityRoot + "\n"
	if got != want {
		t.Errorf("derived entry:\n%s\nwant:\n%s", got, want)
	}
	c, err := contract.ParseCmdline(got[strings.Index(got, "options "):])
	if err != nil || c.Slot != "b" || c.USR != usrB || c.Root != root || c.ESP != esp || c.Verity != v2.rec.VerityRoot {
		t.Errorf("cmdline %+v, %v", c, err)
	}
	// Back to a record without kernel_args (a release built before the
	// field): today's behaviour, v2's arguments kept, slot keys swapped.
	back, err := DeriveEntry(got, "b", "a", &v1.rec, disk.PartitionGUID(testName, contract.USRA))
	if err != nil || !strings.Contains(back, " release.test=v2 loglevel=7 imgbuild.slot=a imgbuild.usr=PARTUUID="+disk.PartitionGUID(testName, contract.USRA)+" imgbuild.verity="+v1.rec.VerityRoot+"\n") {
		t.Errorf("to a record without kernel_args:\n%s\n%v", back, err)
	}
	// The booted entry is still checked against the booted slot.
	if _, err := DeriveEntry(booted, "b", "a", &v2.rec, usrB); err == nil {
		t.Error("an entry naming slot a was derived as if slot b were booted")
	}
	// A Secure Boot entry has no options line and gets none.
	uki := "title   x 1.0.0 (USR-A)\nversion 1.0.0\nsort-key imgbuild\nefi     /imgbuild/a/uki.efi\n"
	if got, err := DeriveEntry(uki, "a", "b", &v2.rec, usrB); err != nil || strings.Contains(got, "options") {
		t.Errorf("UKI entry: %q, %v", got, err)
	}
}

// TestDeriveEntryRefusesSlotKeys: kernel_args that would set a slot's
// keys fight the contract and stop the update, UKI entries included.
func TestDeriveEntryRefusesSlotKeys(t *testing.T) {
	v1, v2 := newRelease("1.0.0", 4096), newRelease("2.0.0", 4096)
	uki := "title   x 1.0.0 (USR-A)\nversion 1.0.0\nsort-key imgbuild\nefi     /imgbuild/a/uki.efi\n"
	usrB := disk.PartitionGUID(testName, contract.USRB)
	for _, arg := range []string{"imgbuild.slot=a", "imgbuild.usr=PARTUUID=" + usrB, "imgbuild.verity=" + v2.rec.VerityRoot, "two words"} {
		v2.rec.KernelArgs = []string{"quiet", arg}
		for _, booted := range []string{bootedEntry(t, v1), uki} {
			_, err := DeriveEntry(booted, "a", "b", &v2.rec, usrB)
			if err == nil || !strings.Contains(err.Error(), "kernel_args") || !strings.Contains(err.Error(), arg) {
				t.Errorf("kernel_args with %q: %v", arg, err)
			}
		}
	}
}
