package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

const fuzzRelease = "Origin: Debian\nSuite: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nSHA256:\n " +
	"6777ea16514725f9427f48c240d92e0a6b8496138e37a1491d8597e66774e309 12084798 main/binary-amd64/Packages.gz\n"

// FuzzVerifyRelease feeds InRelease files as a mirror could serve them:
// only the text the key signed verifies, whatever else the file holds,
// and what is accepted is that text's file list.
func FuzzVerifyRelease(f *testing.F) {
	key, err := openpgp.NewEntity("fuzz", "", "fuzz@example.invalid", nil)
	if err != nil {
		f.Fatal(err)
	}
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, key.PrivateKey, nil)
	if err != nil {
		f.Fatal(err)
	}
	w.Write([]byte(fuzzRelease))
	w.Close()
	f.Add(signed.Bytes())
	f.Add([]byte("junk before\n" + signed.String() + "junk after\n"))
	f.Add([]byte(fuzzRelease))
	keys := openpgp.EntityList{key}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := VerifyRelease(data, keys)
		if err != nil {
			return
		}
		if f, ok := r.Files["main/binary-amd64/Packages.gz"]; len(r.Files) != 1 || !ok || f.Size != 12084798 {
			t.Fatalf("accepted a release other than the signed one: %+v", r.Files)
		}
	})
}

// FuzzParseStanzas reads deb822 text (Packages indexes, .sources files):
// it returns, every stanza has a field, and no field name holds a colon
// or starts a continuation.
func FuzzParseStanzas(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\n"))
	f.Add([]byte("# c\nTypes: deb\nURIs: http://m.example/debian\n\n\n Suites: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, st := range ParseStanzas(data) {
			if len(st) == 0 {
				t.Fatal("an empty stanza")
			}
			for k := range st {
				if strings.Contains(k, ":") || k == "" || k[0] == ' ' || k[0] == '\t' || k[0] == '#' {
					t.Fatalf("field name %q", k)
				}
			}
		}
	})
}

// FuzzReadAptSources reads a host's apt sources in both forms: every
// entry has a URI and a suite.
func FuzzReadAptSources(f *testing.F) {
	f.Add([]byte("deb [arch=amd64] http://m.example/debian bookworm main\n"), []byte("Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n"))
	f.Add([]byte("deb [ x\n"), []byte("Types: deb\nURIs: a b\n"))
	f.Fuzz(func(t *testing.T, list, sources []byte) {
		root := t.TempDir()
		os.Mkdir(filepath.Join(root, "sources.list.d"), 0o755)
		os.WriteFile(filepath.Join(root, "sources.list"), list, 0o644)
		os.WriteFile(filepath.Join(root, "sources.list.d", "x.sources"), sources, 0o644)
		got, err := ReadAptSources(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if s.URI == "" || len(s.Suites) == 0 {
				t.Fatalf("entry without URI or suite: %+v", s)
			}
		}
	})
}
