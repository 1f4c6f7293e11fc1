package ignition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
)

// fakeRoot is a machine's / with the user "core" mapped to the test's own
// uid and gid, so chown works without privileges.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	uid, gid := os.Getuid(), os.Getgid()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), fmt.Appendf(nil, "root:x:0:0::/:/bin/sh\ncore:x:%d:%d::/home/core:/bin/sh\n", uid, gid), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/group"), fmt.Appendf(nil, "root:x:0:\ncore:x:%d:\n", gid), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("image\n"), 0o644))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// listing is every path under root with its mode, to compare before/after.
func listing(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, root)] = fi.Mode()
		return nil
	}))
	return out
}

func apply(t *testing.T, root, cfg string, client *http.Client) error {
	t.Helper()
	c, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c.Apply(context.Background(), Options{Root: root, HTTP: client})
}

func TestApplyWritesFilesDirsLinksKeys(t *testing.T) {
	root := fakeRoot(t)
	cfg := `{"ignition":{"version":"3.4.0"},
	  "passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAAkey1 a","ssh-ed25519 AAAAkey2 b"]}]},
	  "storage":{
	    "directories":[{"path":"/var/lib/app/data","mode":448,"user":{"name":"core"}},{"path":"/var/lib/app","mode":488}],
	    "files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,machine-1%0A"}},
	             {"path":"/etc/imgbuild/env/web.env","mode":384,"contents":{"source":"data:;base64,UE9SVD04MDgwCg=="}},
	             {"path":"/var/lib/app/empty"}],
	    "links":[{"path":"/etc/web.env","target":"/etc/imgbuild/env/web.env"},
	             {"path":"/var/lib/app/hard","target":"/etc/imgbuild/env/web.env","hard":true}]}}`
	must(t, apply(t, root, cfg, nil))

	for p, want := range map[string]string{
		"/etc/hostname": "machine-1\n", "/etc/imgbuild/env/web.env": "PORT=8080\n", "/var/lib/app/empty": "",
		contract.SSHKeysMachine + "/core": "ssh-ed25519 AAAAkey1 a\nssh-ed25519 AAAAkey2 b\n",
	} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
	for p, want := range map[string]fs.FileMode{
		"/etc/imgbuild/env/web.env": 0o600, "/var/lib/app/empty": 0o644, "/etc/hostname": 0o644,
		"/var/lib/app": fs.ModeDir | 0o750, "/var/lib/app/data": fs.ModeDir | 0o700, "/etc/imgbuild": fs.ModeDir | 0o755,
	} {
		if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/web.env")); err != nil || target != "/etc/imgbuild/env/web.env" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	a, _ := os.Stat(filepath.Join(root, "/var/lib/app/hard"))
	b, _ := os.Stat(filepath.Join(root, "/etc/imgbuild/env/web.env"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Errorf("hard link does not share the staged file's inode")
	}
	for p := range listing(t, root) {
		if strings.Contains(p, ".ignition-") || strings.Contains(p, ".tmp") {
			t.Errorf("temporary left: %s", p)
		}
	}
}

func TestApplyRefusesAndLeavesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "served body\n")
	}))
	defer srv.Close()
	wrong := strings.Repeat("ab", 32)
	ok := `{"path":"/var/lib/a/b/ok","contents":{"source":"data:,fine"}}`
	for _, tc := range []struct {
		name, config, path string
		client             *http.Client
	}{
		{"wrong hash", `{"ignition":{"version":"3.4.0"},"storage":{"directories":[{"path":"/opt/d"}],"files":[` + ok + `,
		  {"path":"/etc/x","contents":{"source":"` + srv.URL + `/x","verification":{"hash":"sha256-` + wrong + `"}}}]}}`,
			"$.storage.files.1.contents.source", srv.Client()},
		{"no network", `{"ignition":{"version":"3.4.0"},"storage":{"files":[` + ok + `,
		  {"path":"/etc/x","contents":{"source":"` + srv.URL + `/x","verification":{"hash":"sha256-` + wrong + `"}}}]}}`,
			"$.storage.files.1.contents.source", nil},
		{"unknown user", `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"nobody-here","sshAuthorizedKeys":["ssh-ed25519 AAAA"]}]},
		  "storage":{"files":[` + ok + `]}}`, "$.passwd.users.0.name", nil},
		{"unknown owner", `{"ignition":{"version":"3.4.0"},"storage":{"files":[` + ok + `,{"path":"/etc/y","group":{"name":"wheel"}}]}}`,
			"$.storage.files.1.group", nil},
		{"exists, no overwrite", `{"ignition":{"version":"3.4.0"},"storage":{"files":[` + ok + `,{"path":"/etc/hostname","contents":{"source":"data:,m"}}]}}`,
			"$.storage.files.1.overwrite", nil},
		{"link exists", `{"ignition":{"version":"3.4.0"},"storage":{"files":[` + ok + `],"links":[{"path":"/etc/passwd","target":"/x"}]}}`,
			"$.storage.links.0.overwrite", nil},
		{"dir over file", `{"ignition":{"version":"3.4.0"},"storage":{"files":[` + ok + `],"directories":[{"path":"/etc/hostname"}]}}`,
			"$.storage.directories.0.path", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeRoot(t)
			before := listing(t, root)
			err := apply(t, root, tc.config, tc.client)
			if err == nil {
				t.Fatal("applied")
			}
			if e, ok := err.(*Error); !ok || e.Problems[0].Path != tc.path {
				t.Fatalf("error %v; want one at %s", err, tc.path)
			}
			if after := listing(t, root); !reflect.DeepEqual(before, after) {
				t.Fatalf("ROOT changed:\nbefore %v\nafter  %v", before, after)
			}
			if _, done, _ := Applied(root); done {
				t.Fatal("marker written for a refused config")
			}
		})
	}
}

func TestApplyHTTPWithRightHash(t *testing.T) {
	body := "served body\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	sum := sha256.Sum256([]byte(body))
	root := fakeRoot(t)
	must(t, apply(t, root, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/x",
	  "contents":{"source":"`+srv.URL+`/x","verification":{"hash":"sha256-`+hex.EncodeToString(sum[:])+`"}}}]}}`, srv.Client()))
	if b, _ := os.ReadFile(filepath.Join(root, "etc/x")); string(b) != body {
		t.Fatalf("got %q", b)
	}
}

func TestBootAppliesOnceFromTheFirstSource(t *testing.T) {
	root := fakeRoot(t)
	first := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,one"}}]}}`
	second := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,two"}}]}}`
	src := func(name, cfg string) Source {
		return Source{Name: name, Read: func(context.Context, *http.Client) ([]byte, error) {
			if cfg == "" {
				return nil, nil
			}
			return []byte(cfg), nil
		}}
	}
	networked := false
	o := BootOptions{Root: root, Sources: []Source{src("empty", ""), src("a", first), src("b", second), URL("quiet")},
		Network: func(context.Context) *http.Client { networked = true; return nil }}
	out, err := Boot(context.Background(), o)
	if err != nil || out.Source != "a" || out.Earlier || out.None {
		t.Fatalf("first boot: %+v, %v", out, err)
	}
	if networked {
		t.Error("waited for the network with no network source or http file")
	}
	o.Sources = []Source{src("b", second)}
	again, err := Boot(context.Background(), o)
	if err != nil || !again.Earlier || again.SHA256 != out.SHA256 {
		t.Fatalf("second boot: %+v, %v", again, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "one" {
		t.Fatalf("hostname %q: applied twice", b)
	}
}

func TestBootWithoutConfig(t *testing.T) {
	root := fakeRoot(t)
	out, err := Boot(context.Background(), BootOptions{Root: root, Sources: []Source{FwCfg(filepath.Join(root, "sys")), URL("console=ttyS0")}})
	if err != nil || !out.None {
		t.Fatalf("%+v, %v", out, err)
	}
	if _, done, _ := Applied(root); done {
		t.Fatal("marker written with no config")
	}
}

func TestURLSourceFetches(t *testing.T) {
	cfg := `{"ignition":{"version":"3.4.0"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, cfg) }))
	defer srv.Close()
	s := URL("console=ttyS0 " + contract.IgnitionURLKey + "=" + srv.URL + "/node.ign quiet")
	if !s.NeedsNetwork {
		t.Fatal("URL source does not ask for the network")
	}
	b, err := s.Read(context.Background(), srv.Client())
	if err != nil || string(b) != cfg {
		t.Fatalf("%q, %v", b, err)
	}
	if _, err := s.Read(context.Background(), nil); err == nil {
		t.Fatal("fetched without network")
	}
}
