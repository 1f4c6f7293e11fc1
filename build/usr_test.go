package build

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/squashfs"
	"github.com/imgbuild/imgbuild/manifest"
)

// fileEntry must not trust that validation ran: a manifest built in code
// reaches it directly, and a wrapped uid would own files as someone else.
func TestFileEntryOwner(t *testing.T) {
	m := &manifest.Manifest{File: "demo.yaml"}
	e, err := fileEntry(m, manifest.File{Path: "/etc/motd", Content: "hi", Owner: "1000:100"})
	if err != nil || e.UID != 1000 || e.GID != 100 {
		t.Fatalf("owner 1000:100: uid %d gid %d err %v", e.UID, e.GID, err)
	}
	for _, owner := range []string{"4294967296:0", "0:4294967296", "4294967295:0", "root:0"} {
		_, err := fileEntry(m, manifest.File{Path: "/etc/motd", Content: "hi", Owner: owner})
		if err == nil || !strings.Contains(err.Error(), owner) {
			t.Errorf("owner %q: err %v, want an error naming it", owner, err)
		}
	}
}

// The manifest's usr section reaches the squashfs options, and every
// choice keys its own cache entry: a cached zstd USR never serves an xz
// build.
func TestUSROptionsAndKey(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	entries := []squashfs.Entry{bytesEntry("/usr/bin/x", []byte("x"), 0o755, 0, 0)}
	keys := map[string]string{}
	for _, u := range []manifest.USR{{Compression: "zstd", Level: 19}, {Compression: "zstd", Level: 3}, {Compression: "xz"}} {
		opt := usrOptions(u, epoch)
		want := squashfs.ZSTD
		if u.Compression == "xz" {
			want = squashfs.XZ
		}
		if opt.Compression != want || opt.Level != u.Level || !opt.ModTime.Equal(epoch) {
			t.Errorf("usrOptions(%+v) = %+v", u, opt)
		}
		k, err := usrKey(entries, opt, "demo", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := keys[k]; ok {
			t.Errorf("%+v and %s share the cache key", u, prev)
		}
		keys[k] = fmt.Sprintf("%+v", u)
	}
}
