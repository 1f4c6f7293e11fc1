package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	init := filepath.Join(dir, "stage1")
	os.WriteFile(init, []byte("#!init"), 0o755)
	mod := filepath.Join(dir, "dm-mod.ko")
	os.WriteFile(mod, []byte("ko"), 0o644)
	in := Input{Init: init, Modules: []Module{{Name: "dm_mod", Path: mod}}, Files: []File{{Path: "/etc/imgbuild/keys", Data: []byte("k"), Mode: 0o644}}, MTime: 1700000000}
	var a, b bytes.Buffer
	if err := Write(&a, in); err != nil {
		t.Fatal(err)
	}
	Write(&b, in)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of the same input differ")
	}
	zr, err := zstd.NewReader(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.ReadFrom(zr)
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpio.Info{}
	var names []string
	for _, r := range recs {
		got[r.Name] = r.Info
		names = append(names, r.Name)
	}
	want := "dev dev/console etc etc/imgbuild etc/imgbuild/keys init lib lib/modules lib/modules/dm-mod.ko lib/modules/load.list lib/modules/modules.alias lib/modules/modules.always lib/modules/modules.dep"
	if strings.Join(names, " ") != want {
		t.Errorf("records:\n %s\nwant\n %s", strings.Join(names, " "), want)
	}
	if c := got["dev/console"]; c.Mode != cpio.S_IFCHR|0o600 || c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("/dev/console = %v, want a 5:1 char device", c)
	}
	if got["init"].MTime != 1700000000 {
		t.Errorf("init mtime = %d", got["init"].MTime)
	}
	// Cross-check with tools we did not write.
	cmd := exec.Command("sh", "-c", "zstd -dc | cpio -itv")
	cmd.Stdin = bytes.NewReader(a.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zstd | cpio: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "crw-------") || !strings.Contains(string(out), "5,   1") && !strings.Contains(string(out), "5,  1") {
		t.Errorf("cpio -itv does not show /dev/console as char 5,1:\n%s", out)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	init := filepath.Join(dir, "stage1")
	os.WriteFile(init, []byte("x"), 0o755)
	var buf bytes.Buffer
	if err := Write(&buf, Input{Init: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "stage-1") {
		t.Errorf("missing init: %v", err)
	}
	err := Write(&buf, Input{Init: init, Modules: []Module{{Name: "x", Path: filepath.Join(dir, "x.ko")}}})
	if err == nil || !strings.Contains(err.Error(), "module x") {
		t.Errorf("missing module: %v", err)
	}
}

// Asked modules that drive hardware go to modules.alias, the other asked
// ones to modules.always; dependencies are named by file in modules.dep.
func TestSelectionFiles(t *testing.T) {
	got := selectionFiles([]Module{
		{Name: "virtio", Path: "/k/virtio.ko"},
		{Name: "virtio_blk", Path: "/k/virtio_blk.ko", Asked: true, DeviceAliases: []string{"virtio:d00000002v*"}, Depends: []string{"virtio"}},
		{Name: "dm_mod", Path: "/k/dm-mod.ko", Asked: true},
	})
	want := map[string]string{
		"lib/modules/modules.alias":  "alias virtio:d00000002v* virtio_blk.ko\n",
		"lib/modules/modules.dep":    "virtio.ko:\nvirtio_blk.ko: virtio.ko\ndm-mod.ko:\n",
		"lib/modules/modules.always": "dm-mod.ko\n",
	}
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s = %q, want %q", name, got[name], w)
		}
	}
}
