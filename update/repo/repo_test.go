package repo

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/sign"
)

func testKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pk, sk
}

// testPayload writes a release's files and returns them by kind.
func testPayload(t *testing.T, ver string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	rec := sign.Record{Format: sign.RecordFormat, Name: "minimal", Version: ver, Arch: "amd64",
		Kernel: sum("kernel"), Initramfs: sum("initrd " + ver), USR: sum("usr " + ver), USRSize: int64(len("usr " + ver)),
		VerityRoot: strings.Repeat("d", 64), VeritySalt: strings.Repeat("e", 64)}
	return map[string]string{KindRecord: write("release.json", string(rec.Canonical())), KindKernel: write("vmlinuz", "kernel"),
		KindInitramfs: write("initrd", "initrd "+ver), KindUSR: write("usr", "usr "+ver)}
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(filepath.Join(root, "objects"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPublishPromoteRead(t *testing.T) {
	pub, priv := testKey(t)
	root := t.TempDir()
	p1, err := AddPayload(root, testPayload(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := AddPayload(root, testPayload(t, "1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := p1.File(KindKernel)
	k2, _ := p2.File(KindKernel)
	if k1 != k2 {
		t.Errorf("the same kernel is stored twice: %v %v", k1, k2)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := Publish(root, "alpha", p1, priv, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(root, "alpha", p2, priv, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	if _, err := Promote(root, "1.0.0", "alpha", "beta", []ed25519.PublicKey{pub}, priv, t0); err == nil {
		t.Error("promoting a version alpha no longer offers succeeded")
	}
	beta, err := Promote(root, "1.1.0", "alpha", "beta", []ed25519.PublicKey{pub}, priv, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, root)
	if len(before) != len(after) {
		t.Errorf("promotion changed the objects: %d before, %d after", len(before), len(after))
	}
	for p, data := range before {
		if after[p] != data {
			t.Errorf("promotion changed %s", p)
		}
	}
	// Read back over HTTP, as the agent does.
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	got, err := ReadChannel(URL{Base: srv.URL}, "beta", []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := ReadChannel(Dir(root), "alpha", []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.1.0" || !got.Since.Equal(beta.Since) || len(got.Files) != len(alpha.Files) {
		t.Errorf("beta = %+v", got)
	}
	for i := range got.Files {
		if got.Files[i] != alpha.Files[i] {
			t.Errorf("beta's %s differs from alpha's", got.Files[i].Kind)
		}
	}
	list, err := List(root)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d channels, %v", len(list), err)
	}
}

func TestReadChannelRefuses(t *testing.T) {
	pub, priv := testKey(t)
	other, _ := testKey(t)
	root := t.TempDir()
	p, err := AddPayload(root, testPayload(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(root, "stable", p, priv, time.Now()); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(root, "channels", "stable.json")
	good, _ := os.ReadFile(meta)
	tests := []struct {
		name, edit, want string
		keys             []ed25519.PublicKey
	}{
		{"other key", "", "does not match any trusted key", []ed25519.PublicKey{other}},
		{"tampered", `"version": "1.0.0"`, "does not match any trusted key", []ed25519.PublicKey{pub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := good
			if tt.edit != "" {
				data = []byte(strings.Replace(string(good), tt.edit, `"version": "9.0.0"`, 1))
			}
			if err := os.WriteFile(meta, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadChannel(Dir(root), "stable", tt.keys); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := ReadChannel(Dir(root), "../stable", []ed25519.PublicKey{pub}); err == nil {
		t.Error("a channel name leaving the repository was read")
	}
}

func TestParseChannel(t *testing.T) {
	sum := strings.Repeat("a", 64)
	file := func(kind string) string {
		return `{"kind":"` + kind + `","path":"objects/sha256/` + sum + `","size":1,"sha256":"` + sum + `"}`
	}
	ok := `{"format":"imgbuild-channel/1","channel":"beta","version":"1.0.0","files":[` + file("record") + `,` + file("usr") + `,` + file("kernel") + `,` + file("initramfs") + `]`
	if _, err := ParseChannel([]byte(ok + `,"later":{"x":1}}`)); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(ok, "imgbuild-channel/1", "imgbuild-channel/2", 1) + "}",
		strings.Replace(ok, `,`+file("usr"), "", 1) + "}",
		strings.Replace(ok, `"path":"objects/sha256/`+sum, `"path":"../../etc/passwd`, 1) + "}",
		strings.Replace(ok, `"1.0.0"`, `"one"`, 1) + "}",
	} {
		if _, err := ParseChannel([]byte(bad)); err == nil {
			t.Errorf("ParseChannel accepted %s", bad)
		}
	}
}
