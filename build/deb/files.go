package deb

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"time"
)

// NewestModTime is the latest modification time of any entry in the
// package's data.tar: a date fixed by the package itself.
func NewestModTime(debPath string) (time.Time, error) {
	var newest time.Time
	err := Walk(debPath, func(hdr *tar.Header, _ io.Reader) error {
		if hdr.ModTime.After(newest) {
			newest = hdr.ModTime
		}
		return nil
	})
	return newest, err
}

// ReadFile returns the content of one regular file of the package, by its
// absolute path (e.g. /bin/busybox).
func ReadFile(debPath, name string) ([]byte, error) {
	var data []byte
	found := false
	err := Walk(debPath, func(hdr *tar.Header, r io.Reader) error {
		if path.Clean("/"+hdr.Name) != path.Clean(name) {
			return nil
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in %s is not a regular file", name, filepath.Base(debPath))
		}
		found = true
		var err error
		if data, err = io.ReadAll(r); err != nil {
			return err
		}
		return fs.SkipAll // the rest of the archive need not be decompressed
	})
	if err == nil && !found {
		err = fmt.Errorf("%s has no file %s", filepath.Base(debPath), name)
	}
	return data, err
}
