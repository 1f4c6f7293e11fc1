package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopyFactory(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "factory"), filepath.Join(root, "root")
	files := map[string]string{
		"etc/passwd":          "root:x:0:0::/root:/bin/sh\n",
		"etc/hosts":           "127.0.0.1 localhost\n",
		"var/lib/app/conf.d/": "",
		"srv/www/index.html":  "<h1>hi</h1>\n",
	}
	for p, c := range files {
		full := filepath.Join(src, p)
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(c), 0o644)
	}
	os.Chmod(filepath.Join(src, "srv/www/index.html"), 0o755|os.ModeSetuid)
	os.Symlink("../run/resolv.conf", filepath.Join(src, "etc/resolv.conf"))
	// An older copy that must be overwritten, and unrelated state kept.
	os.MkdirAll(filepath.Join(dst, "etc"), 0o755)
	os.WriteFile(filepath.Join(dst, "etc/passwd"), []byte("old contents that are longer\n"), 0o600)
	os.WriteFile(filepath.Join(dst, "etc/machine-id"), []byte("keep\n"), 0o644)

	for range 2 { // idempotent
		if err := copyFactory(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range files {
		if strings.HasSuffix(p, "/") {
			if st, err := os.Stat(filepath.Join(dst, p)); err != nil || !st.IsDir() {
				t.Errorf("%s: not a directory (%v)", p, err)
			}
			continue
		}
		if got, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(got) != c {
			t.Errorf("%s = %q, %v; want %q", p, got, err, c)
		}
	}
	if st, _ := os.Stat(filepath.Join(dst, "etc/passwd")); st.Mode().Perm() != 0o644 {
		t.Errorf("passwd mode %v", st.Mode())
	}
	if st, _ := os.Stat(filepath.Join(dst, "srv/www/index.html")); st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid lost: %v", st.Mode())
	}
	if l, err := os.Readlink(filepath.Join(dst, "etc/resolv.conf")); err != nil || l != "../run/resolv.conf" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "etc/machine-id")); string(b) != "keep\n" {
		t.Error("unrelated file touched")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dst, "*/.*.tmp*"))   // fsutil.Write's
	links, _ := filepath.Glob(filepath.Join(dst, "*/*.factory-tmp")) // copySymlink's
	leftovers = append(leftovers, links...)
	if len(leftovers) > 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
}

func TestCopyFactoryMissingSource(t *testing.T) {
	if err := copyFactory(filepath.Join(t.TempDir(), "none"), t.TempDir()); err != nil {
		t.Errorf("missing factory dir: %v", err)
	}
}

func TestMountPoints(t *testing.T) {
	info := `22 1 254:9 / / rw,relatime shared:1 - ext4 /dev/vda9 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
24 22 0:5 / /dev rw,nosuid shared:3 - devtmpfs devtmpfs rw,size=1k
25 22 0:30 / /mnt/with\040space rw - tmpfs tmpfs rw
`
	got := mountPoints([]byte(info))
	for _, want := range []string{"/", "/proc", "/dev", "/mnt/with space"} {
		if !got[want] {
			t.Errorf("%q not found in %v", want, got)
		}
	}
	if got["/sys"] || got["/run"] {
		t.Errorf("unexpected mount points in %v", got)
	}
}

func TestActionFor(t *testing.T) {
	tests := []struct {
		sig  unix.Signal
		want action
	}{
		{unix.SIGTERM, actionReboot},
		{unix.SIGINT, actionReboot},
		{unix.SIGUSR1, actionHalt},
		{unix.SIGUSR2, actionPowerOff},
	}
	for _, tt := range tests {
		if got := actionFor(tt.sig); got != tt.want {
			t.Errorf("actionFor(%v) = %v, want %v", tt.sig, got, tt.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"name":"demo","version":"1","hostname":"h","services":[{"name":"a","command":"/bin/true","restart":"always","after":["b"]},{"name":"b","command":"/bin/true","restart":"never"}]}`), 0o644)
	cycle := filepath.Join(dir, "cycle.json")
	os.WriteFile(cycle, []byte(`{"name":"demo","services":[{"name":"a","command":"/x","restart":"always","after":["a"]}]}`), 0o644)
	c, err := loadConfig(good)
	if err != nil || c.Name != "demo" || len(c.Services) != 2 || c.Services[0].After[0] != "b" {
		t.Errorf("loadConfig = %+v, %v", c, err)
	}
	if _, err := loadConfig(cycle); err == nil {
		t.Error("cycle accepted")
	}
	if _, err := loadConfig(filepath.Join(dir, "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}
