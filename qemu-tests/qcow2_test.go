package qemutests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// TestQCOW2Boots builds the minimal image with QCOW2 set and boots the
// qcow2 through OVMF to healthy.
func TestQCOW2Boots(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := manifestCopy(t, "minimal", work)
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out"), QCOW2: true})
	if err != nil {
		t.Fatal(err)
	}
	img := artifact(t, res, "qcow2")
	if filepath.Base(img) != res.Name+".qcow2" {
		t.Errorf("qcow2 artifact is %s, want %s.qcow2", img, res.Name)
	}
	for _, a := range res.Artifacts {
		if a.Kind == "qcow2" {
			st, err := os.Stat(img)
			if err != nil || a.Size != st.Size() || len(a.SHA256) != 64 {
				t.Errorf("qcow2 artifact %+v, file: %v", a, err)
			}
		}
	}
	v := vmtest.Start(t, qemu.Config{Disk: img, DiskFormat: "qcow2", Vars: filepath.Join(work, "vars"), MemoryMiB: 512})
	v.ExpectHealthy(4 * time.Minute)
}
