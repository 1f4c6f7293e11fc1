package confine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CgroupRoot is where sysinit mounts cgroup2; every service has a group
// of its own below Services in it, limits or not, so its usage shows.
const (
	CgroupRoot = "/sys/fs/cgroup"
	Services   = "services"
)

// Limits are a service's cgroup v2 limits; zero is no limit.
type Limits struct {
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"` // cpu.max as a share of one CPU: 0.5 is half of one
	Pids        int     `json:"pids,omitempty"`
}

// cpuPeriod is cpu.max's period, the kernel's default (100 ms).
const cpuPeriod = 100000

// Group makes (or empties the limits of) the service's group below root
// and sets its limits; the returned directory is open for clone3's
// CLONE_INTO_CGROUP (syscall.SysProcAttr.CgroupFD), so the service is in
// its group from its first instruction.
func Group(root, name string, l Limits) (*os.File, error) {
	parent := filepath.Join(root, Services)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	// Controllers reach a group only through its parents' subtree_control.
	for _, dir := range []string{root, parent} {
		if err := enable(dir, "memory", "pids", "cpu"); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	settings := []struct{ file, value string }{
		{"memory.max", "max"}, {"memory.swap.max", "max"}, {"pids.max", "max"}, {"cpu.max", "max " + strconv.Itoa(cpuPeriod)},
	}
	if l.MemoryBytes > 0 {
		settings[0].value = strconv.FormatInt(l.MemoryBytes, 10)
		settings[1].value = "0" // the limit is the limit: no swapping past it
	}
	if l.Pids > 0 {
		settings[2].value = strconv.Itoa(l.Pids)
	}
	if l.CPUs > 0 {
		settings[3].value = fmt.Sprintf("%d %d", max(1000, int(l.CPUs*cpuPeriod)), cpuPeriod)
	}
	for _, s := range settings {
		if err := os.WriteFile(filepath.Join(dir, s.file), []byte(s.value), 0); err != nil && !(errors.Is(err, os.ErrNotExist) && s.file == "memory.swap.max") {
			return nil, fmt.Errorf("cgroup %s: %s %s: %w", name, s.file, s.value, err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return f, nil
}

func enable(dir string, controllers ...string) error {
	have, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	var add []string
	for _, c := range controllers {
		if !strings.Contains(" "+strings.TrimSpace(string(have))+" ", " "+c+" ") {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0); err != nil {
		return fmt.Errorf("cgroup: enable %s in %s: %w", strings.Join(add, " "), dir, err)
	}
	return nil
}
