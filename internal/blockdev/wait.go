package blockdev

import (
	"fmt"
	"strings"
	"time"
)

// WaitFor polls until every wanted PARTUUID (lower case) is found or the
// timeout ends; virtio and NVMe disks appear asynchronously after their
// modules load.
func (t Tree) WaitFor(uuids []string, timeout, every time.Duration) (map[string]Partition, error) {
	deadline := time.Now().Add(timeout)
	for {
		found, err := t.Scan()
		missing := missingUUIDs(found, uuids)
		if err == nil && len(missing) == 0 {
			return found, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("after %v: %w", timeout, err)
			}
			return nil, fmt.Errorf("after %v: no partition with PARTUUID %s", timeout, strings.Join(missing, ", "))
		}
		time.Sleep(every)
	}
}

func missingUUIDs(found map[string]Partition, want []string) []string {
	var missing []string
	for _, u := range want {
		if _, ok := found[u]; !ok {
			missing = append(missing, u)
		}
	}
	return missing
}
