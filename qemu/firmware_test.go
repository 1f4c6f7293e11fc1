package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The host's own descriptors, written by its edk2 packages rather than
// by us: on Debian they name the paths the tests boot with.
func TestFindFirmwareHost(t *testing.T) {
	for _, c := range []struct{ arch, code string }{{"amd64", OVMFCode}, {"arm64", AAVMFCode}} {
		fw, err := FindFirmware(c.arch, FirmwareDirs())
		if err != nil {
			t.Fatal(err)
		}
		if !isFile(c.code) {
			continue
		}
		if fw.Code != c.code || !isFile(fw.Vars) {
			t.Errorf("%s: %v; want %s and its variable template", c.arch, fw, c.code)
		}
		t.Logf("%s: %v", c.arch, fw)
	}
}

func TestFindFirmwareDescriptors(t *testing.T) {
	tmp := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte("fw"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	desc := func(dir, name, arch, machine, code, vars, format, features string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"interface-types": ["uefi"], "mapping": {"device": "flash",
			"executable": {"filename": %q, "format": %q}, "nvram-template": {"filename": %q, "format": %q}},
			"targets": [{"architecture": %q, "machines": [%q]}], "features": [%s]}`, code, format, vars, format, arch, machine, features)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	share, etc := filepath.Join(tmp, "share"), filepath.Join(tmp, "etc")
	code, vars := file("CODE.fd"), file("VARS.fd")
	sbCode, qcow, arm, arm2 := file("SB.fd"), file("CODE.qcow2"), file("AA.fd"), file("AA2.fd")
	desc(share, "10-secure.json", "x86_64", "pc-q35-*", sbCode, vars, "raw", `"secure-boot", "requires-smm"`)
	desc(share, "20-enrolled.json", "x86_64", "pc-q35-*", sbCode, vars, "raw", `"enrolled-keys"`)
	desc(share, "30-qcow2.json", "x86_64", "pc-q35-*", qcow, qcow, "qcow2", "")
	desc(share, "40-missing.json", "x86_64", "pc-q35-*", filepath.Join(tmp, "gone.fd"), vars, "raw", "")
	desc(share, "45-i440fx.json", "x86_64", "pc-i440fx-*", sbCode, vars, "raw", "")
	desc(share, "50-aarch64.json", "aarch64", "virt-*", arm, vars, "raw", "")
	desc(share, "60-x86.json", "x86_64", "pc-q35-*", sbCode, vars, "raw", `"acpi-s3"`)
	// The host's override of 60, and an empty file masking 50.
	desc(etc, "60-x86.json", "x86_64", "pc-q35-*", code, vars, "raw", `"acpi-s3", "verbose-dynamic"`)
	desc(etc, "70-aarch64.json", "aarch64", "virt-*", arm2, vars, "", "")
	if err := os.WriteFile(filepath.Join(etc, "50-aarch64.json"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dirs := []string{share, etc}
	if fw, err := FindFirmware("amd64", dirs); err != nil || fw.Code != code || fw.Vars != vars || fw.Descriptor != filepath.Join(etc, "60-x86.json") {
		t.Errorf("amd64: %v, %v; want %s from etc's 60-x86.json", fw, err, code)
	}
	if fw, err := FindFirmware("arm64", dirs); err != nil || fw.Code != arm2 {
		t.Errorf("arm64: %v, %v; want %s (50 is masked)", fw, err, arm2)
	}
	// Without a suitable descriptor, Debian's paths.
	if fw, err := FindFirmware("amd64", nil); err != nil || fw.Code != OVMFCode || fw.Vars != OVMFVars || fw.Descriptor != "" {
		t.Errorf("no descriptors: %v, %v; want Debian's paths", fw, err)
	}
	if _, err := FindFirmware("riscv64", dirs); err == nil {
		t.Error("riscv64: found firmware for an arch we do not boot")
	}
}
