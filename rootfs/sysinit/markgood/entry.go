package markgood

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// RenameEntry renames the counted entry of slot in entriesDir
// (imgbuild-<slot>+N[-M].conf) to imgbuild-<slot>.conf and fsyncs the
// directory. It returns the new file name, or "" when no entry of the
// slot carries a counter (the boot was already marked good).
func RenameEntry(entriesDir, slot string) (string, error) {
	file, _, err := countedEntry(entriesDir, slot)
	if err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	if file == "" {
		return "", nil
	}
	good := contract.EntryFile(slot, -1)
	if err := os.Rename(filepath.Join(entriesDir, file), filepath.Join(entriesDir, good)); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	if err := fsutil.SyncDir(entriesDir); err != nil {
		return "", fmt.Errorf("mark good: %w", err)
	}
	return good, nil
}
