// Package fsutil writes files and directories whole or not at all, and
// hashes files. The builder's caches, the image writers, the lock file and
// PID 1's /etc updates all rely on a reader never seeing half a file.
package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile is Write with the whole content in hand.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write creates path whole or not at all: fill writes a temporary file
// beside it, which is synced, given mode (after anything fill did, such
// as a chown that would clear setuid) and renamed over path. A symlink at
// path is replaced, not followed. On error path is left as it was and
// the temporary file is removed.
func Write(path string, mode fs.FileMode, fill func(f *os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// MakeDir creates dir whole or not at all: fill writes into a temporary
// directory beside it (mode 0700), which is renamed to dir. When another
// process renamed its own dir into place first, that one is kept and
// raced is true. dir must not exist when MakeDir is called.
func MakeDir(dir string, fill func(tmp string) error) (raced bool, err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if fi, statErr := os.Stat(dir); statErr == nil && fi.IsDir() {
			return true, nil
		}
		return false, err
	}
	return false, nil
}
