package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/internal/sparse"
)

// blankCheckBytes is how much of each end of a disk must read as zeros
// for it to count as blank: partition tables (MBR, GPT and its backup),
// and the signatures of filesystems, LVM and LUKS, all live there.
const blankCheckBytes = 1 << 20

// rootDisk is what a diskless machine's local root disk holds, as far as
// stage-1 may act on it. An error from inspectRootDisk stands for "leave
// it alone".
type rootDisk struct {
	blank bool      // no partition table, both ends zero: partition it
	root  gpt.Entry // the ROOT partition (unless blank)
	// unformatted: ROOT is the only partition and its start is zeros, as
	// a first boot cut short between the GPT and mkfs leaves it.
	unformatted bool
}

// inspectRootDisk decides, reading only, what may be done with a disk
// of size bytes and logical sector size ss.
func inspectRootDisk(disk io.ReaderAt, size, ss int64) (rootDisk, error) {
	tab, err := gpt.Read(disk, ss)
	if errors.Is(err, gpt.ErrNoGPT) {
		if err := checkBlank(disk, size); err != nil {
			return rootDisk{}, err
		}
		return rootDisk{blank: true}, nil
	}
	if err != nil {
		return rootDisk{}, fmt.Errorf("its GPT is unreadable: %w", err)
	}
	root, err := findROOT(tab.Entries())
	if err != nil {
		return rootDisk{}, err
	}
	start := int64(root.FirstLBA) * ss
	ok, err := hasExt4(disk, start)
	if err != nil {
		return rootDisk{}, fmt.Errorf("partition %d (%s): %w", root.Number, contract.ROOT.Label, err)
	}
	if ok {
		return rootDisk{root: root}, nil
	}
	zero, err := zeroAt(disk, start, min(blankCheckBytes, int64(root.LastLBA-root.FirstLBA+1)*ss))
	if err != nil {
		return rootDisk{}, err
	}
	if !zero || len(tab.Entries()) != 1 {
		return rootDisk{}, fmt.Errorf("partition %d (%s) holds no ext4 but is not blank, or is not the only partition", root.Number, contract.ROOT.Label)
	}
	return rootDisk{root: root, unformatted: true}, nil
}

// findROOT picks the one partition with ROOT's name and type.
func findROOT(entries []gpt.Entry) (gpt.Entry, error) {
	var found []gpt.Entry
	for _, e := range entries {
		if e.Name == contract.ROOT.Label && e.Type.String() == contract.ROOT.Type {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return gpt.Entry{}, fmt.Errorf("its GPT (%d partitions) has no partition named %s of type %s", len(entries), contract.ROOT.Label, contract.ROOT.Type)
	}
	return gpt.Entry{}, fmt.Errorf("its GPT has %d partitions named %s", len(found), contract.ROOT.Label)
}

// checkBlank fails unless the first and last MiB of the disk are zeros.
func checkBlank(disk io.ReaderAt, size int64) error {
	if size < 2*blankCheckBytes {
		return fmt.Errorf("it is only %d bytes", size)
	}
	for _, r := range []struct {
		what string
		off  int64
	}{{"first", 0}, {"last", size - blankCheckBytes}} {
		zero, err := zeroAt(disk, r.off, blankCheckBytes)
		if err != nil {
			return err
		}
		if !zero {
			return fmt.Errorf("it has no GPT and is not blank (data in its %s MiB)", r.what)
		}
	}
	return nil
}

func zeroAt(r io.ReaderAt, off, n int64) (bool, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return false, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return sparse.IsZero(b), nil
}

// makeRoot does what inspectRootDisk allowed: on a blank disk, a GPT
// with one ROOT partition filling it (written before the filesystem, so
// that a boot cut short leaves the unformatted case, which the next boot
// finishes); then ext4 on ROOT, with the partition's GUID as its UUID as
// on a disk boot. It returns the ROOT entry and what it did.
func makeRoot(disk *os.File, size, ss int64, d rootDisk) (gpt.Entry, string, error) {
	what := "partition had no filesystem yet (a first boot cut short)"
	if d.blank {
		e, err := partitionBlank(disk, size, ss)
		if err != nil {
			return gpt.Entry{}, "", err
		}
		d.root = e
		what = "was blank: wrote a GPT with one " + contract.ROOT.Label + " partition"
	}
	u, err := uuid.Parse(d.root.Unique.String())
	if err != nil {
		return gpt.Entry{}, "", err
	}
	used, err := mkfsExt4(disk, int64(d.root.FirstLBA)*ss, int64(d.root.LastLBA-d.root.FirstLBA+1)*ss, u, contract.ROOT.Label)
	if err != nil {
		return gpt.Entry{}, "", err
	}
	return d.root, fmt.Sprintf("%s, formatted ext4 (%d MiB)", what, used>>20), nil
}

func partitionBlank(disk *os.File, size, ss int64) (gpt.Entry, error) {
	diskGUID, err := newGUID()
	if err != nil {
		return gpt.Entry{}, err
	}
	partGUID, err := newGUID()
	if err != nil {
		return gpt.Entry{}, err
	}
	tab, err := gpt.Create(disk, ss, uint64(size/ss), diskGUID,
		[]gpt.New{{Type: contract.ROOT.Type, Unique: partGUID, Name: contract.ROOT.Label}})
	if err != nil {
		return gpt.Entry{}, err
	}
	if err := disk.Sync(); err != nil {
		return gpt.Entry{}, fmt.Errorf("sync GPT: %w", err)
	}
	return tab.Entries()[0], nil
}

// newGUID reads a random UUID from the kernel, which, unlike
// getrandom(2), does not wait for the entropy pool this early in boot;
// a GUID needs to be unique, not secret.
func newGUID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	if err != nil {
		u, uerr := uuid.NewRandom()
		if uerr != nil {
			return "", fmt.Errorf("new GUID: %w", errors.Join(err, uerr))
		}
		return u.String(), nil
	}
	return strings.TrimSpace(string(b)), nil
}
