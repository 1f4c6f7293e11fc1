package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// An Option changes what Write does besides writing.
type Option func(*options)

type options struct {
	chown    bool
	uid, gid int
}

// Owner gives the file uid and gid (before its mode is set, since a
// chown clears setuid and setgid bits).
func Owner(uid, gid int) Option {
	return func(o *options) { o.chown, o.uid, o.gid = true, uid, gid }
}

// WriteFile is Write with the whole content in hand.
func WriteFile(path string, data []byte, mode fs.FileMode, opts ...Option) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}, opts...)
}

// Write replaces path whole or not at all, with the durability the
// package doc states: fill writes the new content into a temporary file
// beside path, which is synced, given its owner and mode (after anything
// fill did) and renamed over path, whose directory is then synced. A
// symlink at path is replaced, not followed. On error path is left as it
// was, the temporary file is removed and fill's error is returned as it
// is.
func Write(path string, mode fs.FileMode, fill func(f *os.File) error, opts ...Option) error {
	p, err := Stage(path, mode, fill, opts...)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is a file written whole and synced under a temporary name
// beside its final path, not yet in place: for a caller that puts
// several files in place together once all of them are written (as
// Ignition's config is applied, or not at all).
type Pending struct {
	tmp, path string
}

// Stage is Write up to the rename: the file is filled, synced, given its
// owner and mode and closed under a temporary name. Commit puts it in
// place; Discard removes it.
func Stage(path string, mode fs.FileMode, fill func(f *os.File) error, opts ...Option) (_ *Pending, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if o.chown {
		if err := f.Chown(o.uid, o.gid); err != nil {
			return nil, err
		}
	}
	if err := f.Chmod(mode); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &Pending{tmp: f.Name(), path: path}, nil
}

// TempName is where the staged file is until Commit: a hard link made to
// it now is a link to the committed file (the rename keeps the inode).
func (p *Pending) TempName() string { return p.tmp }

// Commit renames the staged file over its path and syncs the file again
// under its new name, then the directory. A symlink at path is replaced,
// not followed.
//
// The second file sync is for FAT (the ESP, where the agent writes boot
// entries): Linux's vfat renames by adding a directory entry that names
// no cluster and no size, and fills both in only when the inode is
// written back, which a directory fsync does not do. Without it a power
// cut after Commit returned left the entry present and empty. On ext4
// the sync finds nothing left to write.
func (p *Pending) Commit() error {
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return err
	}
	if err := syncFile(p.path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(p.path))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Discard removes the staged file; path is left as it was.
func (p *Pending) Discard() error { return os.Remove(p.tmp) }

// SyncDir makes the renames, creations and removals of entries in dir
// durable. A file system that cannot fsync a directory (EINVAL, or
// unsupported) is not an error: see the package doc.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// MakeDir creates dir whole or not at all: fill writes into a temporary
// directory beside it (mode 0700), which is renamed to dir. When another
// process renamed its own dir into place first, that one is kept and
// raced is true. dir must not exist when MakeDir is called. The rename is
// atomic, not durable: MakeDir serves caches, which a power cut may
// lose and the next build refills.
func MakeDir(dir string, fill func(tmp string) error) (raced bool, err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	sweepDeadTemps(parent)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+tempMark+"*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	// Held until the rename is done: a temporary directory whose lock is
	// free belongs to a process that died filling it.
	lock, err := os.Open(tmp)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false, fmt.Errorf("lock %s: %w", tmp, err)
	}
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

// tempMark is in the name of every MakeDir temporary directory.
const tempMark = ".tmp"

// deadAfter is how long a temporary directory must be left unchanged
// before it is swept: a free lock alone could be an older imgbuild's,
// which took none, filling it right now.
const deadAfter = 10 * time.Minute

// sweepDeadTemps removes the temporary directories in parent that a
// killed process left (MakeDir's own are locked while they fill), so
// that killed builds do not pile up half-made cache entries.
func sweepDeadTemps(parent string) {
	des, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() || !strings.HasPrefix(name, ".") || !strings.Contains(name, tempMark) {
			continue
		}
		p := filepath.Join(parent, name)
		if fi, err := de.Info(); err != nil || time.Since(fi.ModTime()) < deadAfter {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}
