package markgood

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FindDevice returns the device node of the partition with the given
// GPT unique GUID, reading the partition table of every disk listed in
// sysBlock (/sys/block) through its node in devDir (/dev).
func FindDevice(sysBlock, devDir, partUUID string) (string, error) {
	disks, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("find PARTUUID=%s: %w", partUUID, err)
	}
	for _, d := range disks {
		name := d.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		n, err := partNumberOnDisk(filepath.Join(sysBlock, name), filepath.Join(devDir, name), partUUID)
		if err != nil || n == 0 {
			continue // unreadable disks are skipped: the ESP is on another
		}
		part, err := partitionName(filepath.Join(sysBlock, name), n)
		if err != nil {
			return "", fmt.Errorf("find PARTUUID=%s: %w", partUUID, err)
		}
		return filepath.Join(devDir, part), nil
	}
	return "", fmt.Errorf("find PARTUUID=%s: no such partition", partUUID)
}

func partNumberOnDisk(sysDisk, dev, partUUID string) (int, error) {
	sector := int64(512)
	if b, err := os.ReadFile(filepath.Join(sysDisk, "queue", "logical_block_size")); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			sector = n
		}
	}
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return FindPartUUID(f, sector, partUUID)
}

// partitionName finds the child of a disk in sysfs whose "partition"
// attribute is n (sda3, nvme0n1p3, vda3 all look alike there).
func partitionName(sysDisk string, n int) (string, error) {
	children, err := os.ReadDir(sysDisk)
	if err != nil {
		return "", err
	}
	for _, c := range children {
		b, err := os.ReadFile(filepath.Join(sysDisk, c.Name(), "partition"))
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) == strconv.Itoa(n) {
			return c.Name(), nil
		}
	}
	return "", fmt.Errorf("partition %d of %s not in sysfs", n, filepath.Base(sysDisk))
}
