package markgood

import (
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/internal/blockdev"
)

// findESP returns the partition whose GPT unique GUID is partUUID, in
// any case. Stage-1 already waited for the ESP, so one scan suffices.
func findESP(t blockdev.Tree, partUUID string) (blockdev.Partition, error) {
	parts, err := t.Scan()
	if err != nil {
		return blockdev.Partition{}, fmt.Errorf("find PARTUUID=%s: %w", partUUID, err)
	}
	p, ok := parts[strings.ToLower(partUUID)]
	if !ok {
		return blockdev.Partition{}, fmt.Errorf("find PARTUUID=%s: no such partition", partUUID)
	}
	return p, nil
}
