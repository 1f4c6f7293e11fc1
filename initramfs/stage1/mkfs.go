package main

import (
	"bytes"
	"errors"
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
	return mkfsExt4Cut(f, start, size, fsUUID, label, nil)
}

// mkfsExt4Cut is mkfsExt4; cut, in tests, fails every write from the
// one it first returns true for, as a power cut would.
func mkfsExt4Cut(f *os.File, start, size int64, fsUUID uuid.UUID, label string, cut func() bool) (int64, error) {
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
	sb := &superblockLast{zeroingFile: zf, start: start, cut: cut}
	fs, err := ext4.Create(file.New(sb, false), size, start, 512, &ext4.Params{
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
	if err := sb.release(); err != nil {
		return 0, fmt.Errorf("mkfs.ext4: superblock: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("mkfs.ext4: sync: %w", err)
	}
	return size, nil
}

// superblockLast holds back every write that touches the primary
// superblock until release, after the rest of the filesystem is synced.
// go-diskfs writes the superblock, magic and all, about a fifth of the
// way through: a power cut after it left a ROOT whose magic said ext4
// (so the next boot's prepareRoot kept it) over missing inode tables and
// root directory. Written last, the magic means the filesystem is whole;
// without it the next boot formats again. Reads see the held writes, in
// case go-diskfs reads back what it wrote.
type superblockLast struct {
	*zeroingFile
	start int64
	held  []heldWrite
	cut   func() bool
	dead  bool
}

type heldWrite struct {
	off  int64
	data []byte
}

// errPowerCut is what writes return after a test's cut.
var errPowerCut = errors.New("power cut (test)")

func (s *superblockLast) touches(off, n int64) bool {
	lo, hi := s.start+1024, s.start+2048
	return off < hi && off+n > lo
}

func (s *superblockLast) WriteAt(b []byte, off int64) (int, error) {
	if s.dead || (s.cut != nil && s.cut()) {
		s.dead = true
		return 0, errPowerCut
	}
	if s.touches(off, int64(len(b))) {
		s.held = append(s.held, heldWrite{off: off, data: bytes.Clone(b)})
		return len(b), nil
	}
	return s.zeroingFile.WriteAt(b, off)
}

func (s *superblockLast) ReadAt(b []byte, off int64) (int, error) {
	n, err := s.zeroingFile.ReadAt(b, off)
	for _, h := range s.held {
		lo, hi := max(off, h.off), min(off+int64(len(b)), h.off+int64(len(h.data)))
		if lo < hi {
			copy(b[lo-off:hi-off], h.data[lo-h.off:hi-h.off])
		}
	}
	return n, err
}

// release writes what the held writes leave, in one write: go-diskfs
// rewrites the superblock as it goes (free counts), and writing its
// versions in turn would put the magic out over stale counts first. The
// magic and the counts share the superblock's first sector, which a
// disk writes whole.
func (s *superblockLast) release() error {
	if len(s.held) == 0 {
		return nil
	}
	lo, hi := s.held[0].off, s.held[0].off
	for _, h := range s.held {
		lo, hi = min(lo, h.off), max(hi, h.off+int64(len(h.data)))
	}
	buf := make([]byte, hi-lo)
	if _, err := s.ReadAt(buf, lo); err != nil {
		return err
	}
	if s.dead || (s.cut != nil && s.cut()) {
		s.dead = true
		return errPowerCut
	}
	if _, err := s.zeroingFile.WriteAt(buf, lo); err != nil {
		return err
	}
	s.held = nil
	return nil
}

// nowaitRand reads the kernel's pool without waiting for it to be ready.
type nowaitRand struct{}

func (nowaitRand) Read(b []byte) (int, error) {
	if _, err := (randomseed.Linux{}).Read(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
