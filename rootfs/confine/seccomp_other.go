//go:build !amd64 && !arm64

package confine

// nativeArch 0: the default profile is refused here rather than loaded
// with the wrong table's numbers.
const nativeArch = 0

var denied []int
