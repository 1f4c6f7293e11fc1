package deb

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// fakeDownload writes body as apt-get download would, into its work dir.
func fakeDownload(t *testing.T, body []byte, calls *int) runFunc {
	return func(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
		*calls++
		if name != "apt-get" || args[0] != "download" {
			t.Errorf("unexpected command %s %v", name, args)
		}
		return nil, os.WriteFile(filepath.Join(dir, "pkg_1.0_amd64.deb"), body, 0o644)
	}
}

func sha256Of(b []byte) string {
	p := filepath.Join(os.TempDir(), "imgbuild-sha-"+fmt.Sprint(len(b)))
	os.WriteFile(p, b, 0o644)
	defer os.Remove(p)
	s, _, _ := fsutil.FileSHA256(p)
	return s
}

func TestDownloadVerifiesAndCaches(t *testing.T) {
	body := []byte("a package")
	p := Package{Name: "pkg", Version: "1.0", Arch: "amd64", SHA256: sha256Of(body)}
	cache := t.TempDir()
	calls := 0
	got, err := Download(context.Background(), p, cache, withRunner(fakeDownload(t, body, &calls)))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "debs", p.SHA256+".deb"); got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	if _, err := Download(context.Background(), p, cache, withRunner(fakeDownload(t, body, &calls))); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("apt called %d times, want 1 (second call should hit the cache)", calls)
	}
	// A corrupt cache entry is fetched again, not trusted.
	os.WriteFile(got, []byte("corrupt"), 0o644)
	if _, err := Download(context.Background(), p, cache, withRunner(fakeDownload(t, body, &calls))); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("corrupt cache entry was reused")
	}
	left, _ := os.ReadDir(filepath.Join(cache, "debs"))
	if len(left) != 1 {
		t.Errorf("cache holds %d entries, want 1 (temp dirs left behind?)", len(left))
	}
}

// The cache directory is the user's choice; glob characters in it are
// only characters.
func TestDownloadGlobCharsInCache(t *testing.T) {
	body := []byte("a package")
	p := Package{Name: "pkg", Version: "1.0", Arch: "amd64", SHA256: sha256Of(body)}
	cache := filepath.Join(t.TempDir(), "[x]*")
	calls := 0
	got, err := Download(context.Background(), p, cache, withRunner(fakeDownload(t, body, &calls)))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != string(body) {
		t.Errorf("%s = %q, %v", got, b, err)
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	want := strings.Repeat("ab", 32)
	p := Package{Name: "pkg", Version: "1.0", SHA256: want}
	calls := 0
	cache := t.TempDir()
	_, err := Download(context.Background(), p, cache, withRunner(fakeDownload(t, []byte("other"), &calls)))
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v does not wrap ErrChecksum", err)
	}
	for _, s := range []string{"pkg=1.0", want, sha256Of([]byte("other"))} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if _, err := os.Stat(CachePath(cache, want)); err == nil {
		t.Error("a file with the wrong content was cached")
	}
}

func TestDownloadVersionGone(t *testing.T) {
	gone := func(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
		return nil, &commandError{cmd: "apt-get download", err: errors.New("exit status 100"),
			stderr: "E: Version '1.0' for 'pkg' was not found"}
	}
	p := Package{Name: "pkg", Version: "1.0", SHA256: strings.Repeat("0", 64)}
	_, err := Download(context.Background(), p, t.TempDir(), withRunner(gone),
		WithRepinHint("run `imgbuild build --update-lock`"))
	if !errors.Is(err, ErrVersionGone) {
		t.Fatalf("error %v does not wrap ErrVersionGone", err)
	}
	for _, s := range []string{"pkg=1.0", "--update-lock"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestDownloadBadPin(t *testing.T) {
	p := Package{Name: "pkg", Version: "1.0", SHA256: "../../etc/passwd"}
	if _, err := Download(context.Background(), p, t.TempDir()); err == nil {
		t.Fatal("Download accepted a pin that is not a sha256")
	}
}

// TestDownloadLive fetches busybox-static through apt, the real path, and
// checks the walk against dpkg-deb. It also asks apt for a version that
// does not exist.
func TestDownloadLive(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads through apt")
	}
	ctx := context.Background()
	p, err := AptResolver().Resolve(ctx, "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	path, err := Download(ctx, p, cache)
	if err != nil {
		t.Fatal(err)
	}
	got, want := walkListing(t, path), dpkgListing(t, path)
	if !slices.Equal(got, want) {
		t.Errorf("Walk listing differs from dpkg-deb -c\n got: %q\nwant: %q", got, want)
	}
	found := false
	Walk(path, func(h *tar.Header, r io.Reader) error {
		found = found || h.Name == "./bin/busybox"
		return nil
	})
	if !found {
		t.Error("no ./bin/busybox in busybox-static")
	}
	p.Version = "0.0.0-imgbuild-test"
	if _, err := Download(ctx, p, t.TempDir()); !errors.Is(err, ErrVersionGone) {
		t.Errorf("bogus version: error %v does not wrap ErrVersionGone", err)
	}
}
