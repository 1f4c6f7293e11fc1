// Package fsutil writes files and directories whole or not at all, hashes
// files, and matches names in a directory taken literally. The builder's
// caches, the image writers, the lock file, the update repository, PID
// 1's /etc updates, the random seed and the update agent's state and
// slot files all write through Write: one atomic write, on the build host
// and on the machine alike.
//
// # What survives a power cut
//
// Write (and WriteFile, and Stage followed by Commit) creates a temporary
// file in the same directory as path, lets the caller fill it, fsyncs
// it, sets its owner and mode, closes it, renames it over path, fsyncs
// it again under that name (FAT writes a renamed file's size and first
// cluster only with its inode) and fsyncs the directory. So:
//
//   - after a power cut at any moment before Write returns, path holds
//     its old content (or is absent, if it was) or the new content whole:
//     never part of either, never a mix;
//   - once Write has returned nil the new content, its mode and its
//     owner are on the disk: a power cut afterwards keeps them;
//   - a power cut before the rename may leave the temporary file
//     (".NAME.tmp" and random digits) beside path; an error never does;
//   - only path's own directory is synced: a directory the caller made
//     for it just before is durable only once its parent is synced too
//     (or everything is, as sync(2) does);
//   - on a file system that cannot fsync a directory (it answers EINVAL
//     or "unsupported": some FUSE and network file systems) the rename is
//     atomic but its durability is up to that file system; Write does not
//     fail for it, as there is nothing a caller could do.
package fsutil
