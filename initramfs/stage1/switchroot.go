package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Not u-root's mount.SwitchRoot: it logs to stderr and execs init with an
// empty environment; here the environment is kept and failures are
// returned to the FATAL path.

// switchRoot moves the API mounts into newRoot, makes it /, deletes the
// initramfs contents to free their memory and execs init. It only returns
// on failure.
func switchRoot(newRoot, init string, moves []string) error {
	for _, m := range moves {
		target := filepath.Join(newRoot, m)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	oldRoot, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Mount(newRoot, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	removeTree(oldRoot)
	if err := unix.Exec(init, []string{init}, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", init, err)
	}
	return nil
}

// removeTree deletes everything under the directory fd that lives on the
// same filesystem, as switch_root(8) does with the initramfs. Errors are
// ignored: what cannot be freed only costs memory.
func removeTree(dirfd int) {
	var st unix.Stat_t
	if unix.Fstat(dirfd, &st) != nil {
		return
	}
	for _, name := range readNames(dirfd) {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			unix.Unlinkat(dirfd, name, 0)
			continue
		}
		var cst unix.Stat_t
		if unix.Fstat(fd, &cst) == nil && cst.Dev == st.Dev {
			removeTree(fd)
			unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		}
		unix.Close(fd)
	}
}

// readNames lists a directory by fd without an os.File, whose finalizer
// would close an fd the caller still owns.
func readNames(dirfd int) []string {
	var names []string
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Getdents(dirfd, buf)
		if err != nil || n <= 0 {
			return names
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
