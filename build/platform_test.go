package build

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/manifest"
)

// Only an aws build tells sysinit to read instance metadata; a qemu
// build's USR has no platform file (and so never probes 169.254.169.254).
func TestPlatformFileInUSR(t *testing.T) {
	m, err := manifest.Parse("m.yaml", []byte("name: m\nversion: 1.0.0\nkernel: {package: k}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sysinit := filepath.Join(t.TempDir(), "sysinit")
	os.WriteFile(sysinit, []byte("x"), 0o755)
	want := map[string]string{"qemu": "", "": "", "aws": "aws\n"}
	for target, content := range want {
		es, err := usrEntries(m, usrInput{sysinit: sysinit, agent: sysinit, platform: platformOf(target)})
		if err != nil {
			t.Fatal(err)
		}
		got, found := "", false
		for _, e := range es {
			if "/usr/"+e.Path == contract.PlatformFile {
				rc, _ := e.Open()
				b, _ := io.ReadAll(rc)
				got, found = string(b), true
			}
		}
		if got != content || found != (content != "") {
			t.Errorf("--target %q: platform file %q (present %v), want %q", target, got, found, content)
		}
	}
}
