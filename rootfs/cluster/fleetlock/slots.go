package fleetlock

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSlots reads slot counts per group, "default=1,workers=2"; an
// empty string names no group.
func ParseSlots(s string) (map[string]int, error) {
	out := map[string]int{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		group, n, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("fleetlock: slots %q: want group=N", item)
		}
		group = strings.TrimSpace(group)
		if err := checkGroup(group); err != nil {
			return nil, fmt.Errorf("fleetlock: slots %q: %w", item, err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("fleetlock: slots %q: count must be a whole number >= 1", item)
		}
		if _, dup := out[group]; dup {
			return nil, fmt.Errorf("fleetlock: slots: group %s named twice", group)
		}
		out[group] = v
	}
	return out, nil
}
