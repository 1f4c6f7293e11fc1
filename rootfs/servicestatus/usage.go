package servicestatus

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage is what a service's cgroup says it uses; -1 is unknown (no such
// file: a kernel without it, or no group yet), and a limit of -1 is none.
type Usage struct {
	MemoryBytes int64 `json:"memory_bytes"`
	MemoryPeak  int64 `json:"memory_peak_bytes"`
	MemoryMax   int64 `json:"memory_max_bytes"`
	OOMKills    int64 `json:"oom_kills"`
	Pids        int64 `json:"pids"`
	PidsMax     int64 `json:"pids_max"`
	CPUUsec     int64 `json:"cpu_usec"`
}

// ReadUsage reads the group at dir (CgroupRoot/services/NAME).
func ReadUsage(dir string) Usage {
	return Usage{
		MemoryBytes: single(dir, "memory.current"),
		MemoryPeak:  single(dir, "memory.peak"),
		MemoryMax:   single(dir, "memory.max"),
		OOMKills:    keyed(dir, "memory.events", "oom_kill"),
		Pids:        single(dir, "pids.current"),
		PidsMax:     single(dir, "pids.max"),
		CPUUsec:     keyed(dir, "cpu.stat", "usage_usec"),
	}
}

// single reads a one-number file; "max" (no limit) is -1 as well.
func single(dir, name string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// keyed reads one "key value" line of a flat-keyed file.
func keyed(dir, name, key string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}
