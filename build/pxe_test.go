package build

import (
	"strings"
	"testing"
)

func TestCheckPXESize(t *testing.T) {
	if err := checkPXESize(9<<20, 512<<20, "m.yaml"); err != nil {
		t.Errorf("a 9 MiB initramfs in 512 MiB: %v", err)
	}
	err := checkPXESize(300<<20, 512<<20, "m.yaml")
	if err == nil {
		t.Fatal("a 300 MiB initramfs in 512 MiB accepted")
	}
	for _, want := range []string{"m.yaml", "300 MiB", "run.memory (512 MiB)", "680 MiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
