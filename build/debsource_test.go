package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/deb/archive"
)

// TestArchiveUnconfigured: a host with no apt sources and no setting
// gets an error that says what to set, not a failed download.
func TestArchiveUnconfigured(t *testing.T) {
	old := aptRoot
	aptRoot = t.TempDir()
	defer func() { aptRoot = old }()
	t.Setenv(archive.EnvArchive, "")
	t.Setenv(EnvDebBackend, "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	_, err := newDebSource(t.TempDir(), "", "amd64", nil).Resolver()
	if err == nil || !strings.Contains(err.Error(), "IMGBUILD_DEBIAN_ARCHIVE=debian=") || !strings.Contains(err.Error(), "--deb-archive") {
		t.Errorf("unconfigured archive: %v", err)
	}
	t.Setenv(EnvDebBackend, "dpkg")
	if _, err := newDebSource(t.TempDir(), "", "amd64", nil).Resolver(); err == nil || !strings.Contains(err.Error(), EnvDebBackend) {
		t.Errorf("unknown backend: %v", err)
	}
}

// TestArchiveURLOrder: the flag beats the environment, which beats the
// user config file, which beats apt.
func TestArchiveURLOrder(t *testing.T) {
	old := aptRoot
	aptRoot = "/nonexistent"
	defer func() { aptRoot = old }()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	os.MkdirAll(filepath.Join(cfg, "imgbuild"), 0o755)
	if err := os.WriteFile(filepath.Join(cfg, "imgbuild", "debian-archive"), []byte("debian=http://file.example/debian\ndebian-security=http://file.example/sec\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sources := []archive.Source{{Name: "debian"}}
	for _, tc := range []struct{ flag, env, want string }{
		{"http://flag.example/debian", "http://env.example/debian", "http://flag.example/debian"},
		{"", "http://env.example/debian", "http://env.example/debian"},
		{"", "", "http://file.example/debian"},
	} {
		t.Setenv(archive.EnvArchive, tc.env)
		urls, err := newDebSource("", tc.flag, "amd64", nil).archiveURLs(sources)
		if err != nil || urls["debian"] != tc.want {
			t.Errorf("flag %q env %q: %v, %v; want %s", tc.flag, tc.env, urls, err, tc.want)
		}
	}
}
