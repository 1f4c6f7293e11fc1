// Command vminit is the init of the dm package's QEMU test: it loads the
// modules in /lib/modules/load.list, sets up dm-verity over /dev/vda with
// package dm from the parameters in /params.json, reads every data block
// with O_DIRECT and reports on the console in "VMTEST: " lines.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/initramfs/stage1/dm"
)

func main() {
	if err := run(); err != nil {
		fmt.Printf("VMTEST: FAIL: %v\n", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func run() error {
	for _, m := range []struct{ fs, dir string }{{"devtmpfs", "/dev"}, {"proc", "/proc"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	if err := loadModules(); err != nil {
		return err
	}
	if err := waitFor("/dev/vda", 30*time.Second); err != nil {
		return err
	}
	var p verity.Params
	b, err := os.ReadFile("/params.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	path, err := dm.CreateVerity("vmtest", "/dev/vda", p)
	if err != nil {
		return err
	}
	fmt.Printf("VMTEST: created %s\n", path)
	return readAll(path, p.DataBlocks)
}

func loadModules() error {
	f, err := os.Open("/lib/modules/load.list")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		m, err := os.Open("/lib/modules/" + name)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(m.Fd()), "", 0)
		m.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	return sc.Err()
}

func waitFor(path string, d time.Duration) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s did not appear in %v", path, d)
}

// readAll reads each data block with O_DIRECT, so a bad block fails on
// its own rather than through a readahead window.
func readAll(path string, blocks uint64) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	raw := make([]byte, 2*verity.BlockSize)
	pad := (verity.BlockSize - int(uintptr(unsafe.Pointer(&raw[0])))%verity.BlockSize) % verity.BlockSize
	buf := raw[pad : pad+verity.BlockSize]
	h := sha256.New()
	bad := 0
	for i := range blocks {
		if _, err := unix.Pread(fd, buf, int64(i)*verity.BlockSize); err != nil {
			fmt.Printf("VMTEST: block %d: %v\n", i, err)
			bad++
			continue
		}
		h.Write(buf)
	}
	fmt.Printf("VMTEST: read %d blocks, %d bad, sha256 %x\n", blocks, bad, h.Sum(nil))
	return nil
}
