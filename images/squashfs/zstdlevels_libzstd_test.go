//go:build libzstd

package squashfs

// zstdBenchLevels are the levels mksquashfs is swept over: the same
// library, so each of its settings meets ours at the same level.
var zstdBenchLevels = []int{1, 3, 6, 9, 12, 15, 19}

var zstdImpl = "zstd " + ZSTDImplementation + ", xz " + XZImplementation
