package agent

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
