package markgood

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/sign"
)

// Args is the outcome of FixArgs.
type Args struct {
	Version string   // the release on the slot
	Was     []string // the entry's arguments before (without the slot's keys)
	Entry   string   // the entry's file name now
}

// FixArgs gives the counted entry of slot under the ESP root the kernel
// arguments of the slot's release record. An agent from before
// kernel_args derives a new entry from the booted one and keeps its
// arguments, so a release that changes them would boot its first trial
// without them. FixArgs rewrites the options line (the release's
// arguments, then the entry's own slot keys) and gives back the try this
// boot used, so the boot that follows, with them, is still a full trial.
// It returns nil when there is nothing to do: no counted entry, no
// options line (a UKI's command line is signed into it), a record from
// before kernel_args, or arguments already the release's.
func FixArgs(root, slot string) (*Args, error) {
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(contract.RecordPath(slot))))
	if err != nil {
		return nil, fmt.Errorf("kernel arguments: %w", err)
	}
	rec, err := sign.ParseRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("kernel arguments: %s: %w", contract.RecordPath(slot), err)
	}
	if len(rec.KernelArgs) == 0 {
		return nil, nil
	}
	if err := contract.CheckReleaseArgs(rec.KernelArgs); err != nil {
		return nil, fmt.Errorf("kernel arguments: release %s: %w", rec.Version, err)
	}
	dir := filepath.Join(root, filepath.FromSlash(contract.EntriesDir))
	file, name, err := countedEntry(dir, slot)
	if err != nil {
		return nil, fmt.Errorf("kernel arguments: %w", err)
	}
	if file == "" {
		return nil, nil
	}
	path := filepath.Join(dir, file)
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel arguments: %w", err)
	}
	lines := strings.Split(string(text), "\n")
	at := -1
	var was, slotArgs []string
	for i, line := range lines {
		key, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if key != "options" {
			continue
		}
		at, was, slotArgs = i, nil, nil
		for _, f := range strings.Fields(rest) {
			if k, _, _ := strings.Cut(f, "="); contract.IsSlotKey(k) {
				slotArgs = append(slotArgs, f)
			} else {
				was = append(was, f)
			}
		}
	}
	if at < 0 || slices.Equal(was, rec.KernelArgs) {
		return nil, nil
	}
	lines[at] = "options " + strings.Join(append(slices.Clone(rec.KernelArgs), slotArgs...), " ")
	// The content first, in place (a power cut leaves the old entry or
	// the new one); then the name that gives the try back.
	if err := fsutil.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return nil, fmt.Errorf("kernel arguments: %w", err)
	}
	back := file
	if name.Done > 0 {
		back = entryFile(name.ID, name.Left+1, name.Done-1)
		if err := os.Rename(path, filepath.Join(dir, back)); err != nil {
			return nil, fmt.Errorf("kernel arguments: give the try back: %w", err)
		}
		if err := fsutil.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("kernel arguments: %w", err)
		}
	}
	return &Args{Version: rec.Version, Was: was, Entry: back}, nil
}

// countedEntry is the first counted entry file of slot in dir ("" when
// there is none). Several counted entries cannot come from systemd-boot;
// the first by name is picked and the rest left for a human.
func countedEntry(dir, slot string) (string, contract.EntryName, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return "", contract.EntryName{}, err
	}
	var files []string
	names := map[string]contract.EntryName{}
	for _, de := range des {
		if n, ok := contract.ParseEntryFile(de.Name()); ok && n.Counting && n.ID == contract.EntryBase(slot) {
			files = append(files, de.Name())
			names[de.Name()] = n
		}
	}
	if len(files) == 0 {
		return "", contract.EntryName{}, nil
	}
	sort.Strings(files)
	return files[0], names[files[0]], nil
}

// entryFile is systemd-boot's counted name NAME+LEFT[-DONE].conf.
func entryFile(id string, left, done int) string {
	if done == 0 {
		return fmt.Sprintf("%s+%d.conf", id, left)
	}
	return fmt.Sprintf("%s+%d-%d.conf", id, left, done)
}

// FixArgsOnESP is FixArgs on the ESP the command line names, mounted on
// mountpoint for the while.
func FixArgsOnESP(cmdline, sysBlock, devDir, mountpoint string) (*Args, error) {
	var a *Args
	_, err := withESP("kernel arguments", cmdline, sysBlock, devDir, mountpoint, func(root, slot string) error {
		var err error
		a, err = FixArgs(root, slot)
		return err
	})
	return a, err
}
