package archive

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadAptSources(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(root, "sources.list"), []byte(`# a comment
deb [arch=amd64 signed-by=/x.gpg] http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
deb http://mirror.example/debian bookworm-updates main # trailing
`), 0o644)
	os.WriteFile(filepath.Join(root, "sources.list.d", "security.sources"), []byte(`Types: deb deb-src
# a comment
URIs: http://mirror.example/debian-security/
Suites: bookworm-security
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no
`), 0o644)
	os.WriteFile(filepath.Join(root, "sources.list.d", "other.list.disabled"), []byte("deb http://x.example/ bookworm main\n"), 0o644)
	got, err := ReadAptSources(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].URI != "http://mirror.example/debian" || !reflect.DeepEqual(got[0].Components, []string{"main", "contrib"}) ||
		got[1].Suites[0] != "bookworm-updates" || got[2].URI != "http://mirror.example/debian-security/" {
		t.Fatalf("sources %+v", got)
	}
	sources := []Source{
		{Name: "debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{Name: "debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
		{Name: "ports", Suites: []string{"sid"}, Components: []string{"main"}},
	}
	urls := URLsFromApt(sources, got)
	want := map[string]string{"debian": "http://mirror.example/debian", "debian-security": "http://mirror.example/debian-security"}
	if !reflect.DeepEqual(urls, want) {
		t.Errorf("URLsFromApt = %v, want %v", urls, want)
	}
	if none, err := ReadAptSources(filepath.Join(root, "absent")); err != nil || len(none) != 0 {
		t.Errorf("no apt directory: %v, %v", none, err)
	}
}

func TestParseURLs(t *testing.T) {
	got, err := ParseURLs("http://m.example/debian/, debian-security=https://s.example/debian-security")
	want := map[string]string{"debian": "http://m.example/debian", "debian-security": "https://s.example/debian-security"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseURLs = %v, %v", got, err)
	}
	if _, err := ParseURLs("debian=ftp.example"); err == nil {
		t.Error("a value that is no URL was accepted")
	}
}
