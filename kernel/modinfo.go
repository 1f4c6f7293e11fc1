package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// moduleSuffixes are the file names kmod accepts for a module.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// trimModuleSuffix returns the file name without its module suffix, and
// false for a file that is not a module.
func trimModuleSuffix(base string) (string, bool) {
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(base, s) {
			return strings.TrimSuffix(base, s), true
		}
	}
	return "", false
}

// modinfo is the key=value list of a module's .modinfo section; keys repeat
// (alias, softdep).
type modinfo map[string][]string

func (m modinfo) first(key string) string {
	if v := m[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readModinfo reads the .modinfo section of a module file. Compressed
// modules (newer Debian kernels ship .ko.xz) are decompressed in memory.
func readModinfo(path string) (modinfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ra io.ReaderAt = f
	if !strings.HasSuffix(path, ".ko") {
		body, err := decompressModule(path, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ra = bytes.NewReader(body)
	}
	ef, err := elf.NewFile(ra)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sec := ef.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: read .modinfo: %w", path, err)
	}
	return parseModinfo(data), nil
}

func parseModinfo(data []byte) modinfo {
	m := modinfo{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if ok && k != "" {
			m[k] = append(m[k], v)
		}
	}
	return m
}

func decompressModule(path string, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch {
	case strings.HasSuffix(path, ".xz"):
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		dr = x
	case strings.HasSuffix(path, ".zst"):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		dr = z
	case strings.HasSuffix(path, ".gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		dr = g
	default:
		return nil, fmt.Errorf("unknown module compression")
	}
	return io.ReadAll(dr)
}

// normalize makes module names comparable: kmod treats '-' and '_' alike.
func normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// splitList splits depends= ("a,b-c") into normalized names.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, normalize(f))
		}
	}
	return out
}

// softdepPre returns the "pre:" names of softdep= entries
// ("pre: a b post: c"). "post:" modules are not needed for the module to
// work and are left out.
func softdepPre(entries []string) []string {
	var out []string
	for _, e := range entries {
		mode := ""
		for _, tok := range strings.Fields(e) {
			switch tok {
			case "pre:", "post:":
				mode = tok
			default:
				if mode == "pre:" {
					out = append(out, normalize(tok))
				}
			}
		}
	}
	return out
}
