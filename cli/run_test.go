package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/qemu"
)

// A NAME.json that does not parse must stop run before QEMU starts:
// booting with default memory and no forwards would look like a guest fault.
func TestRunRefusesCorruptSettings(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "demo.img")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "demo.json")
	if err := os.WriteFile(settings, []byte(`{"run": {"memory_mib": "lots"`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := run(t, "run", img, "--until-healthy", "--timeout", "1s", "-q")
	if code == ExitOK || !strings.Contains(out, settings) {
		t.Fatalf("exit %d, want an error naming %s:\n%s", code, settings, out)
	}
}

func TestReadRunSettings(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "demo.img")
	s, err := readRunSettings(img)
	if err != nil || s.MemoryMiB != 0 || s.Forwards != nil {
		t.Fatalf("no NAME.json: %+v, %v; want defaults and no error", s, err)
	}
	data := `{"name": "demo", "run": {"memory_mib": 768, "forwards": [{"host": 8080, "guest": 80}]}}`
	if err := os.WriteFile(filepath.Join(dir, "demo.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = readRunSettings(img)
	if err != nil || s.MemoryMiB != 768 || len(s.Forwards) != 1 || s.Forwards[0].Guest != 80 {
		t.Fatalf("NAME.json: %+v, %v; want 768 MiB and 8080:80", s, err)
	}
}

// RunConfig is the machine run --until-healthy boots, run's flags
// applied: the bench boots it through qemu.BootUntilHealthy itself.
func TestRunConfig(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "demo.img")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	data := `{"name": "demo", "run": {"memory_mib": 768, "forwards": [{"host": 8080, "guest": 80}], "arch": "arm64"}}`
	if err := os.WriteFile(filepath.Join(dir, "demo.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, cleanup, err := RunConfig(img, "--forward", "0:8080", "--rng=false")
	defer cleanup()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Disk != img || cfg.Vars != img+".vars" || cfg.MemoryMiB != 768 || cfg.CPU != qemu.CPUPlain || cfg.RNG || cfg.Arch != "arm64" ||
		cfg.AllowReboot || cfg.OpenNetwork || cfg.Stdin != nil || cfg.Output != nil {
		t.Errorf("RunConfig = %+v", cfg)
	}
	if len(cfg.Forwards) != 1 || cfg.Forwards[0] != (qemu.Forward{Host: 0, Guest: 8080}) {
		t.Errorf("forwards %+v, want --forward's 0:8080 only", cfg.Forwards)
	}
	if _, cleanup, err := RunConfig(img, "--forwrd", "1:2"); err == nil {
		t.Error("an unknown flag accepted")
	} else {
		cleanup()
	}
}
