package updater

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

func TestDownloadResumesWithRange(t *testing.T) {
	m := newMachine(t)
	v2 := newRelease("2.0.0", 2<<20)
	m.publish(v2, "stable", m.priv)
	// With chunks too: a partial whole download is resumed, not dropped.
	if _, _, err := chunks.Store(m.repo, filepath.Join(m.repo, filepath.FromSlash(repo.ObjectPath(v2.rec.USR))), m.priv); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ranges := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges[r.URL.Path] = r.Header.Get("Range")
		mu.Unlock()
		http.FileServer(http.Dir(m.repo)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	// An earlier attempt got half of USR before the power went.
	usr := v2.files[repo.KindUSR]
	writeFile(t, filepath.Join(m.a.StateDir, downloadDir, v2.rec.USR+".part"), usr[:len(usr)/2])
	installed, err := m.a.CheckStatic(context.Background(), Source{URL: srv.URL + "/"}, "stable")
	if err != nil || !installed {
		t.Fatalf("CheckStatic over HTTP = %v, %v", installed, err)
	}
	want := "bytes=1048576-"
	if got := ranges["/"+repo.ObjectPath(v2.rec.USR)]; got != want {
		t.Errorf("USR fetched with Range %q, want %q", got, want)
	}
	if got := ranges["/"+repo.ObjectPath(v2.rec.Kernel)]; got != "" {
		t.Errorf("kernel fetched with Range %q, want none", got)
	}
	if _, err := os.Stat(filepath.Join(m.a.StateDir, downloadDir)); err == nil {
		t.Error("downloads not cleaned after the install")
	}
}

func TestLocalSource(t *testing.T) {
	for _, tt := range []struct{ arg, dir, url, channel string }{
		{"/srv/repo", "/srv/repo", "", "stable"},
		{"/srv/repo/channels/beta.json", "/srv/repo", "", "beta"},
		{"http://10.0.2.100/repo/", "", "http://10.0.2.100/repo/", "stable"},
		{"http://10.0.2.100/repo/channels/alpha.json", "", "http://10.0.2.100/repo/", "alpha"},
	} {
		src, ch, err := LocalSource(tt.arg, "stable")
		if err != nil || src.Dir != tt.dir || src.URL != tt.url || ch != tt.channel {
			t.Errorf("LocalSource(%s) = %+v %s %v", tt.arg, src, ch, err)
		}
	}
	if _, _, err := LocalSource("/tmp/x.json", "stable"); err == nil || !strings.Contains(err.Error(), "channels/") {
		t.Errorf("a channel file outside channels/: %v", err)
	}
}
