package markgood

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// RenameEntry renames the counted entry of slot in entriesDir
// (imgbuild-<slot>+N[-M].conf) to imgbuild-<slot>.conf and fsyncs the
// directory. It returns the new file name, or "" when no entry of the
// slot carries a counter (the boot was already marked good).
func RenameEntry(entriesDir, slot string) (string, error) {
	des, err := os.ReadDir(entriesDir)
	if err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	var counted []string
	for _, de := range des {
		if n, ok := contract.ParseEntryFile(de.Name()); ok && n.Counting && n.ID == contract.EntryBase(slot) {
			counted = append(counted, filepath.Join(entriesDir, de.Name()))
		}
	}
	if len(counted) == 0 {
		return "", nil
	}
	// Several counted entries cannot come from systemd-boot; pick one
	// deterministically and leave the rest for a human.
	sort.Strings(counted)
	good := contract.EntryFile(slot, -1)
	if err := os.Rename(counted[0], filepath.Join(entriesDir, good)); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	if err := fsutil.SyncDir(entriesDir); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	return good, nil
}
