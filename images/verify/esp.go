package verify

import "github.com/imgbuild/imgbuild/images/esp"

// readESP reads the named files (absent ones are left out) from the FAT
// in partition part.
func readESP(imagePath string, part int, names []string) (map[string][]byte, error) {
	all, err := esp.ReadFiles(imagePath, part)
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
