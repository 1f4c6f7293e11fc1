package imds

import (
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

const (
	key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb5yKb6r5xN9a3K1mJ0d1XQq2wHq6cZJw0Gm8fX0abc one"
	key2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC/JxGByvHDHgQAU+0nRFWdvMPi22OgNUn9ansrI8QN1Z two"
)

func items() map[string]string {
	return map[string]string{
		"/latest/meta-data/hostname":                  "ip-10-0-2-15.ec2.internal",
		"/latest/meta-data/public-keys/":              "0=one\n1=two",
		"/latest/meta-data/public-keys/0/openssh-key": key1 + "\n",
		"/latest/meta-data/public-keys/1/openssh-key": key2,
		"/latest/user-data":                           `{"ignition":{"version":"3.4.0"}}`,
	}
}

func fastClient(base string) *Client {
	return &Client{Base: base, Backoff: time.Millisecond, Timeout: time.Second}
}

func TestFetch(t *testing.T) {
	f, srv := newFake(t, items())
	md, err := fastClient(srv.URL).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &Metadata{Hostname: "ip-10-0-2-15.ec2.internal", Keys: []string{key1, key2}, UserData: []byte(`{"ignition":{"version":"3.4.0"}}`)}
	if !reflect.DeepEqual(md, want) {
		t.Errorf("got %+v\nwant %+v", md, want)
	}
	if f.puts != 1 {
		t.Errorf("%d token PUTs, want 1", f.puts)
	}
}

// The token is required: a client that skipped it would get 401s.
func TestFetchWithoutUserDataOrKeys(t *testing.T) {
	_, srv := newFake(t, map[string]string{"/latest/meta-data/hostname": "plain"})
	md, err := fastClient(srv.URL).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if md.Hostname != "plain" || md.Keys != nil || md.UserData != nil {
		t.Errorf("got %+v", md)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	f, srv := newFake(t, items())
	f.failOnce["/latest/api/token"] = 2
	f.failOnce["/latest/user-data"] = 4
	md, err := fastClient(srv.URL).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if string(md.UserData) == "" || f.count("PUT") != 3 || f.count("GET /latest/user-data") != 5 {
		t.Errorf("user-data %q after %d PUTs, %d user-data GETs", md.UserData, f.count("PUT"), f.count("GET /latest/user-data"))
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status map[string]int
		edit   func(map[string]string)
		tries  int // requests to the failing path
		want   string
	}{
		{name: "500 on user-data", status: map[string]int{"/latest/user-data": 500}, tries: 5,
			want: "imds: 5 tries over"},
		{name: "token PUT refused", status: map[string]int{"/latest/api/token": 403}, tries: 1,
			want: "imds: PUT " + "URL/latest/api/token: 403 Forbidden"},
		{name: "no IMDSv2", status: map[string]int{"/latest/api/token": 404}, tries: 1,
			want: "404 Not Found (IMDSv2 not supported here)"},
		{name: "garbage key", edit: func(m map[string]string) { m["/latest/meta-data/public-keys/1/openssh-key"] = "<html>oops</html>" },
			want: "public-keys/1/openssh-key: not an OpenSSH public key"},
		{name: "garbage key list", edit: func(m map[string]string) { m["/latest/meta-data/public-keys/"] = "<html>" },
			want: `meta-data/public-keys/: "<html>" is not an index`},
		{name: "garbage hostname", edit: func(m map[string]string) { m["/latest/meta-data/hostname"] = "<b>x</b>" },
			want: `meta-data/hostname: "<b>x</b>" is not a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := items()
			if tc.edit != nil {
				tc.edit(it)
			}
			f, srv := newFake(t, it)
			for p, c := range tc.status {
				f.fail[p] = c
			}
			_, err := fastClient(srv.URL).Fetch(t.Context())
			if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tc.want, "URL", srv.URL)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for p := range tc.status {
				if n := f.count(map[bool]string{true: "PUT ", false: "GET "}[strings.HasSuffix(p, "token")] + p); n != tc.tries {
					t.Errorf("%s asked %d times, want %d", p, n, tc.tries)
				}
			}
		})
	}
}

// A service that is not there: bounded tries, bounded time, one error.
func TestServiceDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &Client{Base: "http://" + addr, Backoff: 10 * time.Millisecond, Timeout: time.Second}
	start := time.Now()
	_, err = c.Fetch(t.Context())
	if err == nil || !strings.Contains(err.Error(), "imds: 5 tries over") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// A service that accepts and never answers: each try times out.
func TestServiceHangs(t *testing.T) {
	hang := make(chan struct{})
	srv := newHang(t, hang)
	c := &Client{Base: srv, Tries: 3, Backoff: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	_, err := c.Fetch(t.Context())
	close(hang)
	if err == nil || !strings.Contains(err.Error(), "3 tries") {
		t.Fatalf("err = %v", err)
	}
}

func newHang(t *testing.T, hang chan struct{}) string {
	t.Helper()
	f, srv := newFake(t, nil)
	_ = f
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	return srv.URL
}

func TestConfig(t *testing.T) {
	ign := []byte(`{"ignition":{"version":"3.4.0"}}`)
	if got, err := Config(ign); err != nil || !bytes.Equal(got, ign) {
		t.Errorf("plain: %q, %v", got, err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ign)
	zw.Close()
	if got, err := Config(gz.Bytes()); err != nil || !bytes.Equal(got, ign) {
		t.Errorf("gzip: %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"#!/bin/sh\necho hi\n":  `not an Ignition config (not a JSON object`,
		"#cloud-config\nusers:": `it begins "#cloud-config`,
		`{"users":[]}`:          `a JSON object without "ignition"`,
		`[1,2]`:                 `not a JSON object`,
	} {
		if _, err := Config([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestHostname(t *testing.T) {
	long := "ip-10-0-2-15." + strings.Repeat("a", 60) + ".internal"
	for in, want := range map[string]string{"ip-1-2-3-4.ec2.internal\n": "ip-1-2-3-4.ec2.internal", "h.": "h", long: "ip-10-0-2-15"} {
		if got, err := hostname(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "a b", "-x", "x_y", "a..b"} {
		if _, err := hostname(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDefaultUser(t *testing.T) {
	for passwd, want := range map[string]string{
		"": "root",
		"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n":                                            "root",
		"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\napp:x:1000:1000::/srv:/usr/sbin/nologin\n": "root",
		"root:x:0:0:root:/root:/bin/sh\napp:x:999:999::/:/bin/sh\ncore:x:1000:1000::/home/core:/bin/bash\n":         "core",
	} {
		root := t.TempDir()
		if passwd != "" {
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644)
		}
		if got, err := DefaultUser(root); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", passwd, got, err, want)
		}
	}
}

func TestApply(t *testing.T) {
	root := t.TempDir()
	keys := filepath.Join(root, contract.SSHKeysMachine, "root")
	os.MkdirAll(filepath.Dir(keys), 0o755)
	// What a per-machine config wrote first: kept, and not doubled.
	os.WriteFile(keys, []byte(key2), 0o644)
	md := &Metadata{Hostname: "ip-10-0-2-15.ec2.internal", Keys: []string{key1, key2}}
	if done, _ := Done(root); done {
		t.Fatal("done before Apply")
	}
	a, err := Apply(root, md)
	if err != nil {
		t.Fatal(err)
	}
	if a != (Applied{User: "root", Keys: 1, Hostname: md.Hostname}) {
		t.Errorf("applied %+v", a)
	}
	if b, _ := os.ReadFile(keys); string(b) != key2+"\n"+key1+"\n" {
		t.Errorf("authorized keys:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != md.Hostname+"\n" {
		t.Errorf("/etc/hostname %q", b)
	}
	if done, err := Done(root); !done || err != nil {
		t.Errorf("Done = %v, %v", done, err)
	}
	left, _ := filepath.Glob(filepath.Join(root, "*/.*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A hostname the per-machine config set wins over the metadata's.
func TestApplyKeepsConfigHostname(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("from-config\n"), 0o644)
	a, err := Apply(root, &Metadata{Hostname: "ip-1-2-3-4"})
	if err != nil || a.Hostname != "" || a.Keys != 0 {
		t.Fatalf("%+v, %v", a, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "from-config\n" {
		t.Errorf("/etc/hostname %q", b)
	}
}
