package qemutests

import (
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/sign"
)

// TestContractBuilderAndStage1Agree reads the built image back and
// parses its boot entry with stage-1's own command-line parser: every
// PARTUUID it names must be the GPT's partition of that role, every
// file the entry names must be on the ESP, and the root hash must be
// the release record's.
func TestContractBuilderAndStage1Agree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	res := buildImage(t, "minimal")
	img := artifact(t, res, "disk")
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	part := func(p contract.Partition) string {
		pi, ok := info.Partition(p.Number)
		if !ok {
			t.Fatalf("no partition %d (%s)", p.Number, p.Label)
		}
		if pi.Label != p.Label || !strings.EqualFold(pi.TypeGUID, p.Type) {
			t.Errorf("partition %d: label %q type %s, want %q %s", p.Number, pi.Label, pi.TypeGUID, p.Label, p.Type)
		}
		return strings.ToLower(pi.GUID)
	}
	for _, p := range contract.Partitions() {
		part(p)
	}
	files, err := esp.ReadFiles(img, contract.ESP.Number)
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := files[contract.EntryPath("a", contract.DefaultTries)]
	if !ok {
		t.Fatalf("no %s on the ESP", contract.EntryPath("a", contract.DefaultTries))
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(entry), "\n") {
		k, v, _ := strings.Cut(line, " ")
		keys[k] = strings.TrimSpace(v)
	}
	c, err := contract.ParseCmdline(keys["options"])
	if err != nil {
		t.Fatalf("stage-1 refuses the entry's command line %q: %v", keys["options"], err)
	}
	want := contract.Cmdline{Slot: "a", USR: part(contract.USRA), Root: part(contract.ROOT), ESP: part(contract.ESP)}
	if c.Slot != want.Slot || c.USR != want.USR || c.Root != want.Root || c.ESP != want.ESP {
		t.Errorf("command line says %+v, the GPT says %+v", c, want)
	}
	for _, k := range []string{"linux", "initrd"} {
		if _, ok := files[strings.TrimPrefix(keys[k], "/")]; !ok {
			t.Errorf("entry's %s %s is not on the ESP", k, keys[k])
		}
	}
	if keys["linux"] != "/"+contract.KernelPath("a") || keys["initrd"] != "/"+contract.InitrdPath("a") {
		t.Errorf("entry boots %s + %s, want the contract's slot-a paths", keys["linux"], keys["initrd"])
	}
	rec, err := sign.ParseRecord(files[contract.RecordPath("a")])
	if err != nil {
		t.Fatalf("%s: %v", contract.RecordPath("a"), err)
	}
	if c.Verity != rec.VerityRoot {
		t.Errorf("command line root hash %s, record %s", c.Verity, rec.VerityRoot)
	}
}
