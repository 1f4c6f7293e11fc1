package repro

import (
	"fmt"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/esp"
)

// explainImage names the partition (by its GPT offset range) that holds
// d.Offset and, on the ESP, the first file whose content differs.
func explainImage(d *Difference, a, b string) {
	info, err := disk.Read(a)
	if err != nil {
		d.Detail = "GPT unreadable: " + err.Error()
		return
	}
	if d.Offset < 2*512+128*128 || d.Offset >= info.Size-(128*128+512) {
		d.Detail = "in the GPT (header or partition entries)"
	}
	for _, p := range info.Partitions {
		if d.Offset < p.Start || d.Offset >= p.Start+p.Size {
			continue
		}
		d.Partition, d.PartStart = fmt.Sprintf("%d %s", p.Number, p.Label), p.Start
		if strings.EqualFold(p.TypeGUID, disk.TypeESP) || p.Label == contract.ESP.Label {
			d.File, d.Detail = espDifference(a, b, p.Number)
		}
		return
	}
}

// espDifference compares the files on both images' ESPs. A difference
// with equal files lies in the FAT metadata (dates, volume id, order).
func espDifference(a, b string, part int) (file, detail string) {
	fa, errA := esp.ReadFiles(a, part)
	fb, errB := esp.ReadFiles(b, part)
	if errA != nil || errB != nil {
		return "", fmt.Sprintf("ESP unreadable: %v %v", errA, errB)
	}
	names := make([]string, 0, len(fa)+len(fb))
	for n := range fa {
		names = append(names, n)
	}
	for n := range fb {
		if _, ok := fa[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		ca, okA := fa[n]
		cb, okB := fb[n]
		switch {
		case !okA || !okB:
			return n, "present on only one ESP"
		case string(ca) != string(cb):
			return n, "file content differs"
		}
	}
	return "", "every ESP file is equal: FAT metadata differs (timestamps, volume id or order)"
}
