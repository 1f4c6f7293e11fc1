package qemutests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/cli"
)

// TestXZUSRBoots builds the minimal image with the manifest's usr
// section asking for xz, checks with unsquashfs that USR is xz, and
// boots it (kernel and initrd directly: the firmware path is the same
// for every USR) until healthy: the kernel's squashfs reads our xz.
func TestXZUSRBoots(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := manifestCopy(t, "minimal", work)
	src, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, append(src, "\nusr:\n  compression: xz\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	if out := tool(t, "unsquashfs", "-s", artifact(t, res, "usr")); !strings.Contains(out, "Compression xz") {
		t.Fatalf("unsquashfs -s: want Compression xz\n%s", out)
	}
	img := artifact(t, res, "disk")
	base := strings.TrimSuffix(img, ".img")
	for kind, ext := range map[string]string{"kernel": ".vmlinuz", "initramfs": ".initrd"} {
		if a := artifact(t, res, kind); a != base+ext {
			if err := os.Symlink(a, base+ext); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
		}
	}
	code, _, stderr := imgbuild(t, "run", img, "--direct", "--until-healthy", "--timeout", "3m", "-q")
	if code != cli.ExitOK {
		t.Fatalf("xz USR: exit %d\n%s", code, stderr)
	}
}
