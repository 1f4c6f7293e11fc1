package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ulikunitz/xz"
)

// testArchive is a Debian-layout archive served on 127.0.0.1: files by
// URL path, which tests change to corrupt it.
type testArchive struct {
	t     *testing.T
	key   *openpgp.Entity
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	srv   *httptest.Server
	xz    bool   // publish Packages.xz instead of Packages.gz
	valid string // the Valid-Until field to publish, if any
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func newTestKey(t *testing.T) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("imgbuild test archive", "", "test@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newTestArchive(t *testing.T) *testArchive {
	a := &testArchive{t: t, key: newTestKey(t), files: map[string][]byte{}, hits: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		data, ok := a.files[r.URL.Path]
		a.hits[r.URL.Path]++
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testArchive) put(path string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[path] = data
}

// pkg is one package the archive's index lists.
type pkg struct {
	name, version, depends string
	body                   []byte
}

// filename drops the epoch, as Debian's pool names do.
func (p pkg) filename() string {
	_, v, ok := strings.Cut(p.version, ":")
	if !ok {
		v = p.version
	}
	return fmt.Sprintf("pool/main/%c/%s/%s_%s_amd64.deb", p.name[0], p.name, p.name, v)
}

// publish writes suite's pool files, gzip Packages and InRelease signed
// by signer, under /debian.
func (a *testArchive) publish(suite string, signer *openpgp.Entity, pkgs ...pkg) {
	var idx bytes.Buffer
	for _, p := range pkgs {
		a.put("/debian/"+p.filename(), p.body)
		fmt.Fprintf(&idx, "Package: %s\nVersion: %s\nArchitecture: amd64\n", p.name, p.version)
		if p.depends != "" {
			fmt.Fprintf(&idx, "Depends: %s\n", p.depends)
		}
		fmt.Fprintf(&idx, "Description: test\n multi-line\nFilename: %s\nSize: %d\nSHA256: %s\n\n", p.filename(), len(p.body), sum(p.body))
	}
	var gz bytes.Buffer
	ext := ".gz"
	var zw io.WriteCloser = gzip.NewWriter(&gz)
	if a.xz {
		ext = ".xz"
		var err error
		if zw, err = xz.NewWriter(&gz); err != nil {
			a.t.Fatal(err)
		}
	}
	zw.Write(idx.Bytes())
	zw.Close()
	a.put("/debian/dists/"+suite+"/main/binary-amd64/Packages"+ext, gz.Bytes())
	// The uncompressed index is listed but not served, as Debian does.
	valid := ""
	if a.valid != "" {
		valid = "Valid-Until: " + a.valid + "\n"
	}
	release := fmt.Sprintf("Origin: Test\nSuite: %s\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n"+valid+"SHA256:\n %s %d main/binary-amd64/Packages%s\n %s %d main/binary-amd64/Packages\n",
		suite, sum(gz.Bytes()), gz.Len(), ext, sum(idx.Bytes()), idx.Len())
	a.put("/debian/dists/"+suite+"/InRelease", a.sign(signer, release))
}

func (a *testArchive) sign(signer *openpgp.Entity, text string) []byte {
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, signer.PrivateKey, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	w.Write([]byte(text))
	if err := w.Close(); err != nil {
		a.t.Fatal(err)
	}
	return out.Bytes()
}

func (a *testArchive) client(t *testing.T, cache string, suites ...string) *Client {
	t.Helper()
	c, err := New(Config{
		Sources:  []Source{{Name: "debian", Suites: suites, Components: []string{"main"}, Arch: "amd64"}},
		URLs:     map[string]string{"debian": a.srv.URL + "/debian"},
		Snapshot: a.srv.URL + "/snapshot",
		Keys:     openpgp.EntityList{a.key},
		CacheDir: cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	busyboxOld = pkg{name: "busybox-static", version: "1:1.35.0-4", body: []byte("old busybox")}
	busyboxNew = pkg{name: "busybox-static", version: "1:1.35.0-4+deb12u1", body: []byte("new busybox")}
	meta       = pkg{name: "linux-image-cloud-amd64", version: "6.1.1-1", depends: "linux-image-6.1.0-9-cloud-amd64 (= 6.1.1-1)", body: []byte("meta")}
)

func TestCandidateAcrossSuites(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxOld, meta)
	a.publish("bookworm-updates", a.key, busyboxNew)
	c := a.client(t, t.TempDir(), "bookworm", "bookworm-updates")
	e, err := c.Candidate(context.Background(), "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != busyboxNew.version || e.Suite != "bookworm-updates" || e.SHA256 != sum(busyboxNew.body) || e.Filename != busyboxNew.filename() {
		t.Errorf("candidate %+v, want %s from bookworm-updates", e, busyboxNew.version)
	}
	if e.Date.Format(SnapshotTime) != "20260711T101637Z" {
		t.Errorf("entry date %v, want the InRelease Date", e.Date)
	}
	m, err := c.Find(context.Background(), meta.name, meta.version, "")
	if err != nil || m.Depends != meta.depends {
		t.Errorf("Find meta: %+v, %v", m, err)
	}
}

func TestValidUntilAhead(t *testing.T) {
	a := newTestArchive(t)
	a.valid = time.Now().Add(time.Hour).UTC().Format(time.RFC1123)
	a.publish("bookworm", a.key, busyboxNew)
	if _, err := a.client(t, t.TempDir(), "bookworm").Candidate(context.Background(), "busybox-static"); err != nil {
		t.Errorf("an index valid for another hour: %v", err)
	}
}

func TestXZIndex(t *testing.T) {
	a := newTestArchive(t)
	a.xz = true
	a.publish("bookworm", a.key, busyboxNew)
	e, err := a.client(t, t.TempDir(), "bookworm").Candidate(context.Background(), "busybox-static")
	if err != nil || e.Version != busyboxNew.version {
		t.Errorf("from an xz index: %+v, %v", e, err)
	}
}

func TestFetchCachesBySHA256(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxNew)
	c := a.client(t, t.TempDir(), "bookworm")
	final := filepath.Join(t.TempDir(), sum(busyboxNew.body)+".deb")
	var reported int64
	pin := Pin{Package: busyboxNew.name, Version: busyboxNew.version, SHA256: sum(busyboxNew.body)}
	if err := c.Fetch(context.Background(), pin, final, func(n int64) { reported = n }); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); !bytes.Equal(got, busyboxNew.body) {
		t.Errorf("fetched %q", got)
	}
	if reported != int64(len(busyboxNew.body)) {
		t.Errorf("progress reported %d bytes, want %d", reported, len(busyboxNew.body))
	}
}

// TestBadIndexRefused: an index not signed by a pinned key, unsigned, or
// whose Packages does not match InRelease's hash gives one error naming
// the archive and suite, and caches no index.
func TestBadIndexRefused(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		spoil      func(a *testArchive)
	}{
		{"wrong key", "signature", func(a *testArchive) { a.publish("bookworm", newTestKey(t), busyboxNew) }},
		{"unsigned", "not an OpenPGP clearsigned message", func(a *testArchive) {
			a.put("/debian/dists/bookworm/InRelease", []byte("Origin: Test\nSHA256:\n "+strings.Repeat("0", 64)+" 1 main/binary-amd64/Packages.gz\n"))
		}},
		{"text outside the signature", "signature", func(a *testArchive) {
			signed := a.files["/debian/dists/bookworm/InRelease"]
			a.put("/debian/dists/bookworm/InRelease", bytes.Replace(signed, []byte("Origin: Test"), []byte("Origin: Evil"), 1))
		}},
		{"expired", "InRelease expired at", func(a *testArchive) {
			a.valid = time.Now().Add(-time.Hour).UTC().Format(time.RFC1123)
			a.publish("bookworm", a.key, busyboxNew)
		}},
		{"Packages larger than listed", "more than the", func(a *testArchive) {
			p := "/debian/dists/bookworm/main/binary-amd64/Packages.gz"
			a.put(p, append(bytes.Clone(a.files[p]), make([]byte, 1<<20)...))
		}},
		{"corrupted Packages", "sha256 mismatch", func(a *testArchive) {
			p := "/debian/dists/bookworm/main/binary-amd64/Packages.gz"
			bad := bytes.Clone(a.files[p])
			bad[len(bad)-5] ^= 0xff
			a.put(p, bad)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestArchive(t)
			a.publish("bookworm", a.key, busyboxNew)
			tc.spoil(a)
			cache := t.TempDir()
			_, err := a.client(t, cache, "bookworm").Candidate(context.Background(), "busybox-static")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Debian archive debian suite bookworm") {
				t.Fatalf("error %v, want one naming the archive and %q", err, tc.want)
			}
			if n := countFiles(t, cache); n != 0 {
				t.Errorf("%d files cached after a refused index", n)
			}
		})
	}
}

// TestTamperedDebRefused: a pool file whose bytes differ from the pinned
// sha256 is refused and leaves nothing behind, not even a partial file.
func TestTamperedDebRefused(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxNew)
	a.put("/debian/"+busyboxNew.filename(), []byte("new busyboX"))
	dir := t.TempDir()
	final := filepath.Join(dir, "x.deb")
	pin := Pin{Package: busyboxNew.name, Version: busyboxNew.version, SHA256: sum(busyboxNew.body), Source: "debian", Filename: busyboxNew.filename()}
	err := a.client(t, t.TempDir(), "bookworm").Fetch(context.Background(), pin, final, nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "busybox-static=1:1.35.0-4+deb12u1") || !strings.Contains(err.Error(), "archive debian") {
		t.Fatalf("tampered .deb: %v", err)
	}
	if n := countFiles(t, dir); n != 0 {
		t.Errorf("%d files left after a refused download", n)
	}
}

// TestMissingPackageOrVersion names the package, the archive and what it has.
func TestMissingPackageOrVersion(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxNew)
	c := a.client(t, t.TempDir(), "bookworm")
	ctx := context.Background()
	_, err := c.Find(ctx, "busybox-static", "1:0.1-1", "")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "busybox-static=1:0.1-1") ||
		!strings.Contains(err.Error(), "debian (bookworm; main; amd64)") || !strings.Contains(err.Error(), "it has 1:1.35.0-4+deb12u1") {
		t.Errorf("missing version: %v", err)
	}
	if _, err := c.Candidate(ctx, "no-such-package"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no-such-package") {
		t.Errorf("missing package: %v", err)
	}
	_, err = c.Find(ctx, "busybox-static", busyboxNew.version, strings.Repeat("a", 64))
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "the lock pins aaaa") {
		t.Errorf("version with another hash: %v", err)
	}
}

// TestFetchResumes: a download cut short is kept and finished with a
// Range request rather than started again.
func TestFetchResumes(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100000)
	var ranges []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body[:len(body)/3])
			// Cut the connection mid-body.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	c := &Client{cfg: Config{HTTP: srv.Client()}}
	final := filepath.Join(t.TempDir(), "f")
	err := c.download(context.Background(), []string{srv.URL + "/f"}, final, sum(body), -1, nil)
	if err == nil {
		t.Fatal("a cut download succeeded")
	}
	if err := c.download(context.Background(), []string{srv.URL + "/f"}, final, sum(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); !bytes.Equal(got, body) {
		t.Error("resumed file differs")
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != fmt.Sprintf("bytes=%d-", len(body)/3) {
		t.Errorf("Range headers %q, want none then bytes=%d-", ranges, len(body)/3)
	}
}

// TestConcurrentFetch: two fetches of one package into one cache (two
// builds) both succeed, and the second takes the first one's file.
func TestConcurrentFetch(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxNew)
	c := a.client(t, t.TempDir(), "bookworm")
	final := filepath.Join(t.TempDir(), "x.deb")
	pin := Pin{Package: busyboxNew.name, Version: busyboxNew.version, SHA256: sum(busyboxNew.body), Source: "debian", Filename: busyboxNew.filename()}
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { errs <- c.Fetch(context.Background(), pin, final, nil) }()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(final); !bytes.Equal(got, busyboxNew.body) {
		t.Errorf("fetched %q", got)
	}
	if n := a.hits["/debian/"+busyboxNew.filename()]; n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

// TestSnapshotFallback: once the live archive has dropped a version, the
// snapshot service's URL for the pinned time serves it.
func TestSnapshotFallback(t *testing.T) {
	a := newTestArchive(t)
	a.publish("bookworm", a.key, busyboxNew)
	a.put("/snapshot/archive/debian/20250520T000000Z/"+busyboxOld.filename(), busyboxOld.body)
	c := a.client(t, t.TempDir(), "bookworm")
	pin := Pin{Package: busyboxOld.name, Version: busyboxOld.version, SHA256: sum(busyboxOld.body),
		Source: "debian", Filename: busyboxOld.filename(), Snapshot: "20250520T000000Z"}
	final := filepath.Join(t.TempDir(), "old.deb")
	if err := c.Fetch(context.Background(), pin, final, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); !bytes.Equal(got, busyboxOld.body) {
		t.Errorf("snapshot fetch gave %q", got)
	}
	pin.Snapshot = "20250101T000000Z"
	err := c.Fetch(context.Background(), pin, filepath.Join(t.TempDir(), "x"), nil)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/snapshot/archive/debian/20250101T000000Z/pool/") {
		t.Errorf("a time the snapshot lacks: %v", err)
	}
}

// countFiles counts what dir holds besides download locks.
func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(path, ".lock") {
			n++
		}
		return nil
	})
	return n
}
