package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// copyFactory copies the tree under src onto dst, overwriting files and
// creating parents, keeping modes and owners. Each file is replaced by a
// rename, so a reader never sees a half-written /etc/passwd.
func copyFactory(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == src && os.IsNotExist(err) {
				return fs.SkipAll // an image without factory files
			}
			return fmt.Errorf("factory: %w", err)
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return fmt.Errorf("factory: %w", err)
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("factory: %w", err)
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, info.Mode().Perm()|0o700); err != nil {
				return fmt.Errorf("factory: %w", err)
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return copySymlink(path, target)
		case d.Type().IsRegular():
			return copyFile(path, target, info)
		}
		return nil // devices, fifos: not factory material
	})
}

func copySymlink(src, dst string) error {
	link, err := os.Readlink(src)
	if err != nil {
		return fmt.Errorf("factory: %w", err)
	}
	tmp := dst + ".factory-tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(link, tmp); err != nil {
		return fmt.Errorf("factory: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("factory: %w", err)
	}
	return nil
}

func copyFile(src, dst string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("factory: %w", err)
	}
	defer in.Close()
	// Write sets the mode after the chown, which clears setuid bits.
	mode := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	err = fsutil.Write(dst, mode, func(out *os.File) error {
		if _, err := io.Copy(out, in); err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			return out.Chown(int(st.Uid), int(st.Gid))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("factory: %s: %w", dst, err)
	}
	return nil
}
