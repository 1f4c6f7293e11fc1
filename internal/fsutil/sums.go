package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SumsFile lists the files of a directory made once and read many times
// (a cache entry) with their sha256, as sha256sum does (sha256sum -c
// checks one by hand).
const SumsFile = "SHA256SUMS"

func entryFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && p != filepath.Join(dir, SumsFile) {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// WriteSums syncs every file of the entry in dir and records its sum.
func WriteSums(dir string) error {
	files, err := entryFiles(dir)
	if err != nil {
		return err
	}
	var sums strings.Builder
	for _, rel := range files {
		sum, _, err := FileSHA256(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		if err := syncFile(filepath.Join(dir, rel)); err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, rel)
	}
	return WriteFile(filepath.Join(dir, SumsFile), []byte(sums.String()), 0o644)
}

// CheckSums says which file of the entry in dir differs from its sum,
// or which is missing or extra.
func CheckSums(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		return fmt.Errorf("no %s", SumsFile)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		sum, rel, ok := strings.Cut(line, "  ")
		if !ok {
			return fmt.Errorf("%s: bad line %q", SumsFile, line)
		}
		want[rel] = sum
	}
	files, err := entryFiles(dir)
	if err != nil {
		return err
	}
	if len(files) != len(want) {
		return fmt.Errorf("%d files, %s lists %d", len(files), SumsFile, len(want))
	}
	for _, rel := range files {
		sum, _, err := FileSHA256(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		if want[rel] != sum {
			return fmt.Errorf("%s: sha256 %s, recorded %s", rel, sum[:12], want[rel][:min(12, len(want[rel]))])
		}
	}
	return nil
}
