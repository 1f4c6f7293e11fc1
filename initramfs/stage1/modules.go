package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const moduleDir = "/lib/modules"

// parseLoadList returns the module file names of load.list in order,
// skipping blank lines and # comments.
func parseLoadList(r io.Reader) ([]string, error) {
	var names []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "/") {
			return nil, fmt.Errorf("load.list: %q: want a file name in %s", line, moduleDir)
		}
		names = append(names, line)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("load.list: %w", err)
	}
	return names, nil
}

// loadModules loads the modules this machine needs (loadSelected) or,
// from an initramfs without the selection files, every module of
// dir/load.list in order. A missing load.list means a kernel with
// everything built in. A module that
// finds nothing to drive (ENODEV: efivarfs on a machine booted without
// UEFI) is skipped, not fatal: one image boots on both.
func loadModules(dir string, load func(path string) error) (loaded int, skipped []string, err error) {
	sel, ok, err := readSelection(dir)
	if err != nil {
		return 0, nil, err
	}
	if ok {
		return loadSelected(dir, "/sys", sel, load)
	}
	f, err := os.Open(filepath.Join(dir, "load.list"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	names, err := parseLoadList(f)
	if err != nil {
		return 0, nil, err
	}
	for _, n := range names {
		err := load(filepath.Join(dir, n))
		switch {
		case errors.Is(err, unix.ENODEV):
			skipped = append(skipped, n)
		case err != nil:
			return loaded, skipped, fmt.Errorf("%s: %w", n, err)
		default:
			loaded++
		}
	}
	return loaded, skipped, nil
}

// finitModule loads one .ko; a module already loaded (EEXIST) is fine.
func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	var errno unix.Errno
	if errors.As(err, &errno) && errno != unix.EEXIST {
		return fmt.Errorf("finit_module: %s: %w", unix.ErrnoName(errno), err)
	}
	return nil
}
