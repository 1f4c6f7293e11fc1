package release

import (
	"github.com/imgbuild/imgbuild/disk"
)

// readESP reads the named files (absent ones are left out) from the FAT
// in partition part.
func readESP(imagePath string, part int, names []string) (map[string][]byte, error) {
	all, err := disk.ReadESPFiles(imagePath, part)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, n := range names {
		if b, ok := all[n]; ok {
			out[n] = b
		}
	}
	return out, nil
}
