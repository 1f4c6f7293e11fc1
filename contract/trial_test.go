package contract

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTrialBoot(t *testing.T) {
	dir := t.TempDir()
	if TrialBoot(dir) {
		t.Error("a trial boot without the variable")
	}
	if err := os.WriteFile(filepath.Join(dir, LoaderBootCountPathVar), []byte{6, 0, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	if !TrialBoot(dir) {
		t.Error("LoaderBootCountPath present, yet not a trial boot")
	}
}
