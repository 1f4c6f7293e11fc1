// Package blockdev finds GPT partitions by PARTUUID: it reads the GPT of
// every disk in sysfs and maps its entries to the kernel's partition
// device nodes. Both on-image programs use it, stage-1 to find USR, ROOT
// and the ESP, sysinit to find the ESP when it marks a boot good.
package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imgbuild/imgbuild/internal/gpt"
)

// Partition is a GPT partition found on a disk, with its device node.
type Partition struct {
	Disk   string // whole-disk node, /dev/vda
	Node   string // partition node, /dev/vda3
	Number int
	UUID   string // unique GUID, lower case
	Entry  gpt.Entry
}

// Tree says where to find sysfs and device nodes; tests point it at a
// fake tree with disk image files in place of nodes.
type Tree struct {
	Sys string // /sys/block
	Dev string // /dev
	// SectorSize returns a disk's logical sector size.
	SectorSize func(f *os.File) (int64, error)
}

// skipDisk names block devices that never hold our GPT.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "dm-", "zram", "sr", "md", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Scan reads the GPT of every whole disk and returns its partitions that
// also exist as kernel partitions, keyed by unique GUID (lower case).
// Disks without a GPT are skipped; a disk that cannot be read is an error
// only if nothing is found, so that a stray broken disk does not stop
// the boot.
func (t Tree) Scan() (map[string]Partition, error) {
	disks, err := os.ReadDir(t.Sys)
	if err != nil {
		return nil, err
	}
	found := map[string]Partition{}
	var errs []error
	for _, d := range disks {
		if skipDisk(d.Name()) {
			continue
		}
		parts, err := t.scanDisk(d.Name())
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

func (t Tree) scanDisk(disk string) ([]Partition, error) {
	node := filepath.Join(t.Dev, disk)
	f, err := os.Open(node)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ss, err := t.SectorSize(f)
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
	nodes, err := t.partitionNodes(disk)
	if err != nil {
		return nil, err
	}
	var out []Partition
	for _, e := range tab.Entries() {
		name, ok := nodes[e.Number]
		if !ok {
			continue // the kernel has not made this partition (yet)
		}
		out = append(out, Partition{
			Disk: node, Node: filepath.Join(t.Dev, name), Number: e.Number,
			UUID: e.Unique.String(), Entry: e,
		})
	}
	return out, nil
}

// partitionNodes maps partition numbers to their names (vda3, nvme0n1p3)
// from /sys/block/<disk>/<part>/partition.
func (t Tree) partitionNodes(disk string) (map[int]string, error) {
	ents, err := os.ReadDir(filepath.Join(t.Sys, disk))
	if err != nil {
		return nil, err
	}
	nodes := map[int]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(t.Sys, disk, e.Name(), "partition"))
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

// Disk returns the partitions of one disk (vda, nvme0n1) that exist as
// kernel partitions; a disk without a GPT has none.
func (t Tree) Disk(name string) ([]Partition, error) {
	return t.scanDisk(name)
}
