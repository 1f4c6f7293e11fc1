//go:build !libzstd

package squashfs

// zstdBenchLevels map to the pure-Go encoder's four distinct levels.
var zstdBenchLevels = []int{1, 3, 6, 15}

var zstdImpl = "zstd " + ZSTDImplementation + ", xz " + XZImplementation
