package fsutil

import (
	"os"
	"path/filepath"
)

// Match lists the entries of dir whose names match pattern (filepath.Match
// syntax), as paths under dir. Unlike filepath.Glob(filepath.Join(dir,
// pattern)) it takes dir literally: a cache or output directory the user
// named "[x]*" is a name, not a pattern.
func Match(dir, pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if ok, _ := filepath.Match(pattern, e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
