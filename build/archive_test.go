package build_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/deb/archive"
	"github.com/imgbuild/imgbuild/images/repro"
	"github.com/imgbuild/imgbuild/manifest"
)

// TestArchiveSameBytes builds the minimal manifest through the host's apt
// and then through imgbuild's own archive client in a mount namespace
// where /etc/apt is empty and no apt, dpkg or gpg is on PATH: the outputs
// must be byte-identical, with the apt build's lock (no archive fields),
// with that lock completed, and with one the archive client re-pinned
// (--update-lock).
func TestArchiveSameBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image four times and downloads its packages twice (minutes)")
	}
	if os.Geteuid() != 0 {
		t.Skip("hides /etc/apt with a bind mount in a new mount namespace: needs root")
	}
	apt, err := archive.ReadAptSources("/etc/apt")
	if err != nil || len(apt) == 0 {
		t.Skipf("the reference build needs the host's apt sources: %v", err)
	}
	tmp := t.TempDir()
	src, bin := buildImgbuild(t, tmp)
	var urls []string
	for name, u := range archive.URLsFromApt(archive.Bookworm("amd64"), apt) {
		urls = append(urls, name+"="+u)
	}
	noApt := pathWithout(t, filepath.Join(tmp, "bin"), "apt", "dpkg", "gpg")
	empty := filepath.Join(tmp, "empty")
	os.Mkdir(empty, 0o755)

	dirA, dirB := filepath.Join(tmp, "apt"), filepath.Join(tmp, "archive")
	run := func(dir string, hide bool, env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"build", "-q", "-f", filepath.Join(dir, "minimal.yaml"), "-o", filepath.Join(dir, "out"), "--cache", filepath.Join(dir, "cache")}, args...)...)
		cmd.Env = append(withoutEnv("SOURCE_DATE_EPOCH", "IMGBUILD_CACHE", "IMGBUILD_DEB_BACKEND", archive.EnvArchive), append(env, "IMGBUILD_SOURCE="+src)...)
		if hide {
			// No apt at all: its configuration hidden, its programs off PATH;
			// the script fails the build if either is still there.
			script := `mount --bind "$1" /etc/apt || exit 99
shift
export PATH="$1"; shift
for p in apt-get apt-cache dpkg gpg gpgv; do command -v $p && exit 97; done
[ -z "$(ls -A /etc/apt)" ] || exit 98
exec "$@"`
			cmd.Args = append([]string{"unshare", "-m", "sh", "-c", script, "sh", empty, noApt}, cmd.Args...)
			cmd.Path, _ = exec.LookPath("unshare")
			cmd.Env = append(cmd.Env, archive.EnvArchive+"="+strings.Join(urls, " "))
		}
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build in %s (%q): %v\n%s", dir, args, err, out)
		}
	}
	copyManifest(t, src, dirA)
	run(dirA, false, []string{"IMGBUILD_DEB_BACKEND=apt"}, "--locked=false")
	copyManifest(t, src, dirB)
	copyFile(t, filepath.Join(dirA, "minimal.lock"), filepath.Join(dirB, "minimal.lock"))
	run(dirB, true, nil, "--locked")
	same(t, filepath.Join(dirA, "out"), filepath.Join(dirB, "out"))

	// A build that may update the lock records the archive fields of the
	// apt build's pins (same versions); --update-lock re-resolves them
	// through the archive client, which must pick what apt picked.
	aptLock, err := manifest.LoadLock(filepath.Join(dirA, "minimal.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{"--locked=false", "--update-lock"} {
		run(dirB, true, nil, args)
		same(t, filepath.Join(dirA, "out"), filepath.Join(dirB, "out"))
		arcLock, err := manifest.LoadLock(filepath.Join(dirB, "minimal.lock"))
		if err != nil {
			t.Fatal(err)
		}
		if arcLock.Archive == nil || len(arcLock.Archive.Keys) == 0 {
			t.Errorf("%s through the archive wrote no archive section", args)
		}
		for name, a := range aptLock.Debs {
			b := arcLock.Debs[name]
			if a.Package != b.Package || a.Version != b.Version || a.SHA256 != b.SHA256 || b.Source == "" || b.Filename == "" || b.Snapshot == "" {
				t.Errorf("%s: %s: apt pinned %+v, the archive client %+v", args, name, a, b)
			}
		}
	}
}

func same(t *testing.T, a, b string) {
	t.Helper()
	diffs, err := repro.CompareDirs(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("apt and archive builds differ: %s", d)
	}
}

// pathWithout makes dir a PATH holding links to every program on PATH
// except those whose names start with one of the prefixes.
func pathWithout(t *testing.T, dir string, prefixes ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		ents, _ := os.ReadDir(d)
	next:
		for _, e := range ents {
			for _, p := range prefixes {
				if strings.HasPrefix(e.Name(), p) {
					continue next
				}
			}
			link := filepath.Join(dir, e.Name())
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins, as in a lookup
			}
			os.Symlink(filepath.Join(d, e.Name()), link)
		}
	}
	return dir
}
