package deb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/imgbuild/imgbuild/build/deb/archive"
)

// TestDownloadWithArchive: a pinned pool path is fetched over HTTP into
// the same sha256-keyed cache as apt's downloads, and the archive's
// failures come back as Download's errors (gone: with the re-pin hint).
func TestDownloadWithArchive(t *testing.T) {
	body := []byte("a package")
	h := sha256.Sum256(body)
	sum := hex.EncodeToString(h[:])
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/debian/pool/main/p/p_1_amd64.deb":
			w.Write(body)
		case "/debian/pool/main/p/p_2_amd64.deb":
			w.Write([]byte("other bytes"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	key, err := openpgp.NewEntity("t", "", "t@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := archive.New(archive.Config{URLs: map[string]string{"debian": srv.URL + "/debian"}, Keys: openpgp.EntityList{key}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cache := t.TempDir()
	p := Package{Name: "p", Version: "1", Arch: "amd64", SHA256: sum, Source: "debian", Filename: "pool/main/p/p_1_amd64.deb"}
	for i := 0; i < 2; i++ {
		got, err := Download(ctx, p, cache, WithArchive(c))
		if err != nil || got != CachePath(cache, sum) {
			t.Fatalf("download %d: %q, %v", i, got, err)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests for one package, want 1 (then the cache)", hits.Load())
	}
	// The cache holds p's sha256 now: the failures get empty caches.
	bad := p
	bad.Version, bad.Filename = "2", "pool/main/p/p_2_amd64.deb"
	if _, err := Download(ctx, bad, t.TempDir(), WithArchive(c)); !errors.Is(err, ErrChecksum) {
		t.Errorf("other bytes: %v", err)
	}
	gone := p
	gone.Version, gone.Filename = "3", "pool/main/p/p_3_amd64.deb"
	_, err = Download(ctx, gone, t.TempDir(), WithArchive(c), WithRepinHint("re-pin it"))
	if !errors.Is(err, ErrVersionGone) || !strings.Contains(err.Error(), "re-pin it") || !strings.Contains(err.Error(), "p=3") {
		t.Errorf("gone: %v", err)
	}
}
