package ignition

import (
	"fmt"
	"path"
	"strings"

	"github.com/vincent-petithory/dataurl"
)

// FileEntry is one storage.files entry of a config, for checks of its
// content made before a machine boots (imgbuild config validate).
type FileEntry struct {
	Field string // $.storage.files.N.contents.source
	Path  string
	// Data is the content when the config holds it (a data: URL or no
	// source); Remote says it is fetched on the machine instead.
	Data   []byte
	Remote bool
}

// FilesUnder returns the config's files at or below dir (a clean
// absolute path), in the config's order.
func (c *Config) FilesUnder(dir string) ([]FileEntry, error) {
	var out []FileEntry
	for i, f := range c.cfg.Storage.Files {
		p := path.Clean(f.Path)
		if p != dir && !strings.HasPrefix(p, dir+"/") {
			continue
		}
		e := FileEntry{Field: fmt.Sprintf("$.storage.files.%d.contents.source", i), Path: p}
		switch src := f.Contents.Source; {
		case src == nil || *src == "":
			e.Data = []byte{}
		case isData(*src):
			d, err := dataurl.DecodeString(*src)
			if err != nil {
				return nil, fmt.Errorf("%s: data URL: %w", e.Field, err)
			}
			e.Data = d.Data
		default:
			e.Remote = true
		}
		out = append(out, e)
	}
	return out, nil
}
