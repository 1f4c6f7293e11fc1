package markgood

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
)

// countedName matches a systemd-boot entry with a boot counter:
// <base>+<left>[-<done>].conf.
var countedName = regexp.MustCompile(`^(.+)\+[0-9]+(-[0-9]+)?\.conf$`)

// RenameEntry renames the counted entry of slot in entriesDir
// (imgbuild-<slot>+N[-M].conf) to imgbuild-<slot>.conf and fsyncs the
// directory. It returns the new file name, or "" when no entry of the
// slot carries a counter (the boot was already marked good).
func RenameEntry(entriesDir, slot string) (string, error) {
	base := "imgbuild-" + slot
	names, err := filepath.Glob(filepath.Join(entriesDir, base+"+*.conf"))
	if err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	var counted []string
	for _, p := range names {
		if m := countedName.FindStringSubmatch(filepath.Base(p)); m != nil && m[1] == base {
			counted = append(counted, p)
		}
	}
	if len(counted) == 0 {
		return "", nil
	}
	// Several counted entries cannot come from systemd-boot; pick one
	// deterministically and leave the rest for a human.
	sort.Strings(counted)
	good := base + ".conf"
	if err := os.Rename(counted[0], filepath.Join(entriesDir, good)); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	if err := syncDir(entriesDir); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	return good, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
