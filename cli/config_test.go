package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/reftool"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.ign")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidate(t *testing.T) {
	good := writeConfig(t, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,m1"}}]}}`)
	bad := writeConfig(t, `{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/vdb"}],
	  "files":[{"path":"/etc/a","contents":{"source":"data:;base64,!!"}}]}}`)
	if code, out := run(t, "config", "validate", good); code != ExitOK || !strings.Contains(out, "ok      "+good) {
		t.Fatalf("good config: exit %d\n%s", code, out)
	}
	code, out := run(t, "config", "validate", good, bad)
	if code != ExitFailure {
		t.Fatalf("bad config: exit %d\n%s", code, out)
	}
	for _, want := range []string{bad + ": $.storage.disks: not supported", bad + ": $.storage.files.0.contents.source: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestOEMWritesTheConfigOnACopy(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "m.img")
	l := disk.Layout{DiskGUID: disk.GUID("oem test", "disk"), Partitions: []disk.Partition{
		{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP, GUID: disk.GUID("oem test", "EFI-SYSTEM"), Size: 1 * disk.MiB},
		{Number: 6, Label: "OEM", TypeGUID: disk.TypeOEM, GUID: disk.GUID("oem test", "OEM"), Size: 16 * disk.MiB},
	}}
	if err := disk.Write(img, l); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(img)
	cfg := `{"ignition":{"version":"3.4.0"}}`
	out := filepath.Join(dir, "node1.img")
	if code, o := run(t, "oem", img, "--config", writeConfig(t, cfg), "-o", out); code != ExitOK {
		t.Fatalf("oem: exit %d\n%s", code, o)
	}
	info, err := disk.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := info.Partition(6)
	// mtools, not our reader: the FAT16 must be what other tools read.
	at := fmt.Sprintf("%s@@%d", out, p.Start)
	if got := reftool.Must(t, "mtype", "-i", at, "::"+contract.OEMConfig); got != cfg {
		t.Fatalf("config.ign on the OEM partition: %q", got)
	}
	if label := reftool.Must(t, "mlabel", "-i", at, "-s", "::"); !strings.Contains(label, "OEM") {
		t.Fatalf("volume label: %q", label)
	}
	if after, _ := os.ReadFile(img); string(after) != string(before) {
		t.Fatal("the source image changed")
	}
	if code, o := run(t, "oem", img, "--config", writeConfig(t, `{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"a"}]}}`), "-o", filepath.Join(dir, "x.img")); code == ExitOK || !strings.Contains(o, "$.systemd") {
		t.Fatalf("bad config accepted: exit %d\n%s", code, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.img")); !os.IsNotExist(err) {
		t.Fatal("an output was written for a refused config")
	}
}
