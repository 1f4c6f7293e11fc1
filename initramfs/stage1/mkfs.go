package main

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/randomseed"
)

const (
	ext4BlockSize = 4096
	// ext4GroupBytes is one block group with 4 KiB blocks (32768 blocks).
	ext4GroupBytes = 32768 * ext4BlockSize
	// minLastGroup: go-diskfs v1.9.4 lays out a short last block group that
	// starts a flex group (group 8, 16, ...) with its inode tables outside
	// the filesystem, and e2fsck rejects it ("Inode table for group N is
	// not in group"). mke2fs drops such a tail too; we drop any tail below
	// a quarter group, which the sweep in mkfs_test.go shows is enough.
	minLastGroup = ext4GroupBytes / 4
)

// ext4Size is the filesystem size mkfsExt4 uses for a partition of size
// bytes: whole 4 KiB blocks, without a short tail group.
func ext4Size(size int64) int64 {
	size -= size % ext4BlockSize
	if tail := size % ext4GroupBytes; size > ext4GroupBytes && tail < minLastGroup {
		size -= tail
	}
	return size
}

// mkfsExt4 writes an empty ext4 filesystem (journal, extents, 64bit) of
// about size bytes at byte start of f and returns the size it used. The
// filesystem UUID is given so that it matches the partition it lives on.
//
// go-diskfs is asked for 4 KiB blocks and no resize inode: with 1 KiB
// blocks (its pick below 512 MiB) it writes a resize inode e2fsck rejects.
func mkfsExt4(f *os.File, start, size int64, fsUUID uuid.UUID, label string) (int64, error) {
	size = ext4Size(size)
	if size < 4<<20 {
		return 0, fmt.Errorf("mkfs.ext4: %d bytes is too small", size)
	}
	// go-diskfs draws the directory hash seed and the journal UUID from
	// the uuid package's reader, crypto/rand by default: on a first boot
	// with no RDRAND and no saved seed, that blocks while the kernel
	// gathers jitter entropy (0.65 s of CPU under TCG, in the way of the
	// boot). Neither value is a secret: they only have to differ between
	// machines, which the pool's output before it is ready does.
	uuid.SetRand(nowaitRand{})
	defer uuid.SetRand(nil)
	zf, err := newZeroingFile(f)
	if err != nil {
		return 0, fmt.Errorf("mkfs.ext4: %w", err)
	}
	fs, err := ext4.Create(file.New(zf, false), size, start, 512, &ext4.Params{
		UUID:            &fsUUID,
		SectorsPerBlock: ext4BlockSize / 512,
		VolumeName:      label,
		Features:        []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)},
	})
	if err != nil {
		return 0, fmt.Errorf("mkfs.ext4: %w", err)
	}
	if err := fs.Close(); err != nil {
		return 0, fmt.Errorf("mkfs.ext4: close: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("mkfs.ext4: sync: %w", err)
	}
	return size, nil
}

// nowaitRand reads the kernel's pool without waiting for it to be ready.
type nowaitRand struct{}

func (nowaitRand) Read(b []byte) (int, error) {
	if _, err := (randomseed.Linux{}).Read(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
