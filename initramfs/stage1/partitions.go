package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/initramfs/stage1/gpt"
	"golang.org/x/sys/unix"
)

// partition is a GPT partition found on a disk, with its device node.
type partition struct {
	Disk   string // whole-disk node, /dev/vda
	Dev    string // partition node, /dev/vda3
	Number int
	UUID   string // unique GUID, lower case
	Entry  gpt.Entry
}

// blockTree says where to find sysfs and device nodes; tests point it at a
// fake tree with disk image files in place of nodes.
type blockTree struct {
	Sys string // /sys/block
	Dev string // /dev
	// SectorSize returns a disk's logical sector size.
	SectorSize func(f *os.File) (int64, error)
}

var realTree = blockTree{Sys: "/sys/block", Dev: "/dev", SectorSize: deviceSectorSize}

// skipDisk names block devices that never hold our GPT.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "dm-", "zram", "sr", "md", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// scan reads the GPT of every whole disk and returns its partitions that
// also exist as kernel partitions, keyed by unique GUID. Disks without a
// GPT are skipped; a disk that cannot be read is an error only if nothing
// is found, so that a stray broken disk does not stop the boot.
func (bt blockTree) scan() (map[string]partition, error) {
	disks, err := os.ReadDir(bt.Sys)
	if err != nil {
		return nil, err
	}
	found := map[string]partition{}
	var errs []error
	for _, d := range disks {
		if skipDisk(d.Name()) {
			continue
		}
		parts, err := bt.scanDisk(d.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range parts {
			found[p.UUID] = p
		}
	}
	if len(found) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return found, nil
}

func (bt blockTree) scanDisk(disk string) ([]partition, error) {
	node := filepath.Join(bt.Dev, disk)
	f, err := os.Open(node)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ss, err := bt.SectorSize(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", node, err)
	}
	tab, err := gpt.Read(f, ss)
	if errors.Is(err, gpt.ErrNoGPT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", node, err)
	}
	nodes, err := bt.partitionNodes(disk)
	if err != nil {
		return nil, err
	}
	var out []partition
	for _, e := range tab.Entries() {
		name, ok := nodes[e.Number]
		if !ok {
			continue // the kernel has not made this partition (yet)
		}
		out = append(out, partition{
			Disk: node, Dev: filepath.Join(bt.Dev, name), Number: e.Number,
			UUID: e.Unique.String(), Entry: e,
		})
	}
	return out, nil
}

// partitionNodes maps partition numbers to their names (vda3, nvme0n1p3)
// from /sys/block/<disk>/<part>/partition.
func (bt blockTree) partitionNodes(disk string) (map[int]string, error) {
	ents, err := os.ReadDir(filepath.Join(bt.Sys, disk))
	if err != nil {
		return nil, err
	}
	nodes := map[int]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(bt.Sys, disk, e.Name(), "partition"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s/%s/partition: %w", disk, e.Name(), err)
		}
		nodes[n] = e.Name()
	}
	return nodes, nil
}

// waitFor polls until every wanted PARTUUID is found or the timeout ends;
// virtio and NVMe disks appear asynchronously after their modules load.
func (bt blockTree) waitFor(uuids []string, timeout, every time.Duration) (map[string]partition, error) {
	deadline := time.Now().Add(timeout)
	for {
		found, err := bt.scan()
		missing := missingUUIDs(found, uuids)
		if err == nil && len(missing) == 0 {
			return found, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("after %v: %w", timeout, err)
			}
			return nil, fmt.Errorf("after %v: no partition with PARTUUID %s", timeout, strings.Join(missing, ", "))
		}
		time.Sleep(every)
	}
}

func missingUUIDs(found map[string]partition, want []string) []string {
	var missing []string
	for _, u := range want {
		if _, ok := found[u]; !ok {
			missing = append(missing, u)
		}
	}
	return missing
}

// deviceSectorSize asks the kernel for a block device's logical sector
// size; regular files (tests) count as 512-byte disks.
func deviceSectorSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return 512, nil
	}
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil {
		return 0, fmt.Errorf("BLKSSZGET: %w", err)
	}
	return int64(n), nil
}

// deviceSize is the size in bytes of a block device or regular file:
// lseek to the end works for both.
func deviceSize(f *os.File) (int64, error) {
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("%s: size: %w", f.Name(), err)
	}
	return n, nil
}
