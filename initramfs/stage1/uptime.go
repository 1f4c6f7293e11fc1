package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// parseUptime reads the first field of /proc/uptime: seconds since boot.
func parseUptime(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("uptime: empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// sinceBoot is the time since the kernel started, 0 if /proc is unreadable.
func sinceBoot() time.Duration {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	d, _ := parseUptime(string(b))
	return d
}
