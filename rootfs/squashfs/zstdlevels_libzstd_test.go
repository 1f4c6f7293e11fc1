//go:build libzstd

package squashfs

// zstdBenchLevels are libzstd's levels from fast to smallest.
var zstdBenchLevels = []int{3, 6, 9, 15, 19}

var zstdImpl = "zstd " + ZSTDImplementation + ", xz " + XZImplementation
