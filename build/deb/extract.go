package deb

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/unixmode"
)

// ErrUnsafePath is wrapped by Extract's error when an entry would land
// outside the target directory.
var ErrUnsafePath = errors.New("path escapes the target directory")

// Extract unpacks the package's data.tar into dir, which is created if
// needed. It writes through an os.Root, so no entry, hard link or earlier
// symlink can place a file outside dir. Symlinks are created as they are
// (absolute targets included: they are content, resolved on the image).
// Owners are not applied, so no root is needed; permission bits and
// modification times are. Device nodes and FIFOs are refused, since they
// cannot be made without root. On error dir is left partly written:
// callers that cache extract into a temporary dir and rename it.
func Extract(debPath, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("deb: extract %s: %w", debPath, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("deb: extract %s: %w", debPath, err)
	}
	defer root.Close()
	x := &extractor{root: root}
	err = Walk(debPath, func(hdr *tar.Header, r io.Reader) error {
		if err := x.entry(hdr, r); err != nil {
			return fmt.Errorf("deb: extract %s: %s: %w", debPath, hdr.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := x.finishDirs(); err != nil {
		return fmt.Errorf("deb: extract %s: %w", debPath, err)
	}
	return nil
}

type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

type extractor struct {
	root *os.Root
	dirs []dirMeta // applied last: a read-only dir must still take its children
}

// cleanName maps a tar name ("./usr/bin/x") to a path relative to the root
// ("usr/bin/x"), "." for the root itself, or ErrUnsafePath.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%q: %w", name, ErrUnsafePath)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q: %w", name, ErrUnsafePath)
	}
	return c, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	mode := unixmode.ToFileMode(uint32(hdr.Mode))
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, dirMeta{name, mode, hdr.ModTime})
		}
		return nil
	}
	if hdr.Typeflag != tar.TypeDir {
		if err := x.prepare(name); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirMeta{name, mode, hdr.ModTime})
		return nil
	case tar.TypeReg:
		return x.file(name, mode, hdr.ModTime, r)
	case tar.TypeSymlink:
		return x.root.Symlink(hdr.Linkname, name)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return err
		}
		return x.root.Link(target, name)
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

// prepare makes the parent dir and removes a non-directory already at name,
// as dpkg replaces files a later entry names again.
func (x *extractor) prepare(name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("a directory is in the way")
	}
	return x.root.Remove(name)
}

func (x *extractor) file(name string, mode fs.FileMode, mtime time.Time, r io.Reader) error {
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := x.root.Chmod(name, mode); err != nil {
		return err
	}
	return x.root.Chtimes(name, mtime, mtime)
}

// finishDirs applies directory modes and times, deepest first. Owner
// write stays on so that a cache tree can be removed without root.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.root.Chmod(d.name, d.mode|0o200); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		if err := x.root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	return nil
}
