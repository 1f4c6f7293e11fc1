package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Only the modules of devices present load, after their dependencies;
// a bus driver's new devices are matched in the next pass; the always
// list loads on any machine.
func TestLoadSelected(t *testing.T) {
	dir, sysfs := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		aliasFile: "alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci.ko\n" +
			"alias virtio:d00000002v* virtio_blk.ko\n" +
			"alias pci:v00001D0Fd0000EC20sv*sd*bc*sc*i* ena.ko\n" +
			"alias scsi:t-0x00* sd_mod.ko\n",
		depFile:    "virtio.ko:\nvirtio_pci.ko: virtio.ko\nvirtio_blk.ko: virtio.ko\nena.ko:\nscsi_mod.ko:\nsd_mod.ko: scsi_mod.ko\nsquashfs.ko:\n",
		alwaysFile: "squashfs.ko\n",
	})
	writeFiles(t, sysfs, map[string]string{
		"bus/pci/devices/0000:00:03.0/modalias": "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n",
		"bus/pci/devices/0000:00:1f.0/modalias": "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00\n",
	})
	var order []string
	load := func(p string) error {
		f := filepath.Base(p)
		order = append(order, f)
		if f == "virtio_pci.ko" { // the bus driver finds its devices
			writeFiles(t, sysfs, map[string]string{"bus/virtio/devices/virtio1/modalias": "virtio:d00000002v00001AF4\n"})
		}
		return nil
	}
	sel, ok, err := readSelection(dir)
	if err != nil || !ok {
		t.Fatalf("readSelection: %v %v", ok, err)
	}
	n, skipped, err := loadSelected(dir, sysfs, sel, load)
	if err != nil {
		t.Fatal(err)
	}
	want := "squashfs.ko virtio.ko virtio_pci.ko virtio_blk.ko"
	if got := strings.Join(order, " "); got != want || n != 4 || len(skipped) != 0 {
		t.Errorf("loaded %d: %s (skipped %v), want %s", n, got, skipped, want)
	}
	if slices.Contains(order, "ena.ko") || slices.Contains(order, "scsi_mod.ko") {
		t.Errorf("loaded modules of absent devices: %v", order)
	}
}

func TestReadSelectionErrors(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := readSelection(dir); ok || err != nil {
		t.Fatalf("no alias file: ok %v err %v, want the load.list fallback", ok, err)
	}
	writeFiles(t, dir, map[string]string{aliasFile: "alias onlytwo\n", depFile: "", alwaysFile: ""})
	if _, _, err := readSelection(dir); err == nil || !strings.Contains(err.Error(), "modules.alias:1") {
		t.Fatalf("bad alias line: %v", err)
	}
}

func TestUeventModalias(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"add@/devices/pci0000:00/0000:00:04.0/virtio2/host0/target0:0:0/0:0:0:0\x00ACTION=add\x00SUBSYSTEM=scsi\x00MODALIAS=scsi:t-0x00\x00SEQNUM=9", "scsi:t-0x00"},
		{"change@/devices/x\x00MODALIAS=scsi:t-0x00", ""},
		{"add@/devices/virtual/block/loop0\x00SUBSYSTEM=block", ""},
	} {
		if got := ueventModalias([]byte(c.msg)); got != c.want {
			t.Errorf("%q: %q, want %q", c.msg, got, c.want)
		}
	}
}
