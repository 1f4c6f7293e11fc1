package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// AptSource is one "deb" entry of the host's apt configuration.
type AptSource struct {
	URI        string
	Suites     []string
	Components []string
	File       string // where it was read, for messages
}

// ReadAptSources reads the apt source lists under root (normally
// /etc/apt): sources.list and sources.list.d/*.list in the one-line
// form, sources.list.d/*.sources in deb822. Only binary ("deb")
// entries count; deb-src and disabled entries are skipped. A missing
// directory gives no sources and no error: the host simply has no apt.
func ReadAptSources(root string) ([]AptSource, error) {
	var files []string
	if _, err := os.Stat(filepath.Join(root, "sources.list")); err == nil {
		files = append(files, filepath.Join(root, "sources.list"))
	}
	entries, err := os.ReadDir(filepath.Join(root, "sources.list.d"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("apt sources: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			files = append(files, filepath.Join(root, "sources.list.d", n))
		}
	}
	var out []AptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("apt sources: %w", err)
		}
		if strings.HasSuffix(f, ".sources") {
			out = append(out, parseDeb822Sources(f, data)...)
		} else {
			out = append(out, parseOneLineSources(f, data)...)
		}
	}
	return out, nil
}

func parseDeb822Sources(file string, data []byte) []AptSource {
	var out []AptSource
	for _, st := range ParseStanzas(data) {
		if !strings.EqualFold(st["Enabled"], "") && !strings.EqualFold(st["Enabled"], "yes") {
			continue
		}
		if !contains(strings.Fields(st["Types"]), "deb") {
			continue
		}
		suites := strings.Fields(st["Suites"])
		if len(suites) == 0 {
			continue // apt refuses such an entry too
		}
		for _, uri := range strings.Fields(st["URIs"]) {
			out = append(out, AptSource{URI: uri, Suites: suites,
				Components: strings.Fields(st["Components"]), File: file})
		}
	}
	return out
}

// parseOneLineSources reads "deb [options] URI SUITE COMPONENT...".
func parseOneLineSources(file string, data []byte) []AptSource {
	var out []AptSource
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, AptSource{URI: f[0], Suites: f[1:2], Components: f[2:], File: file})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// EnvArchive names the environment variable that sets the archives'
// base URLs: "NAME=URL" pairs separated by spaces or commas, a bare URL
// being the archive named "debian".
const EnvArchive = "IMGBUILD_DEBIAN_ARCHIVE"

// EnvSnapshot names the environment variable with the snapshot service's
// base URL; a package is fetched from BASE/archive/NAME/TIME/POOL-PATH
// once the live archive has dropped it.
const EnvSnapshot = "IMGBUILD_DEBIAN_SNAPSHOT"

// ParseURLs reads an IMGBUILD_DEBIAN_ARCHIVE value (or the --deb-archive
// flag's) into archive name -> base URL.
func ParseURLs(value string) (map[string]string, error) {
	urls := map[string]string{}
	for _, item := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		name, url, ok := strings.Cut(item, "=")
		if !ok {
			name, url = "debian", item
		}
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("%s: %q: want NAME=http(s)://... or a URL", EnvArchive, item)
		}
		urls[name] = strings.TrimSuffix(url, "/")
	}
	return urls, nil
}

// URLsFromApt finds, for each source the lock pins, the host apt entry
// that carries one of its suites and components: its URI is the base URL.
// Sources without a match are left out; the caller says what to set.
func URLsFromApt(sources []Source, apt []AptSource) map[string]string {
	urls := map[string]string{}
	for _, s := range sources {
	entries:
		for _, a := range apt {
			for _, suite := range s.Suites {
				if contains(a.Suites, suite) && containsAll(a.Components, s.Components) {
					urls[s.Name] = strings.TrimSuffix(a.URI, "/")
					break entries
				}
			}
		}
	}
	return urls
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !contains(have, w) {
			return false
		}
	}
	return true
}
