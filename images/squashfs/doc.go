// Package squashfs writes SquashFS 4.0 images from a list of entries.
//
// The writer streams file contents (nothing is staged in a temporary tree),
// compresses data blocks in parallel while keeping the output order fixed,
// and produces the same bytes for the same input whatever the input order
// or the number of workers: USR images must be reproducible so that their
// dm-verity root hash is.
//
// Layout written, in this order (the kernel checks that the tables follow
// each other): superblock, data and fragment blocks, inode table,
// directory table, fragment table, id table. There is no export table and
// no xattr table. The image is padded with zeros to a multiple of 4 KiB.
package squashfs
