// Command testsysinit stands in for sysinit in stage-1's QEMU test: it
// counts boots in a file on ROOT, reports what it sees and powers off.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const countFile = "/testsysinit-boots"

func main() {
	con, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		con = os.Stdout
	}
	if err := report(con); err != nil {
		fmt.Fprintf(con, "TESTSYSINIT: error: %v\n", err)
	}
	unix.Sync()
	// Read-only before power off, so the host's e2fsck sees a clean ROOT.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		fmt.Fprintf(con, "TESTSYSINIT: remount / ro: %v\n", err)
	}
	time.Sleep(200 * time.Millisecond)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func report(con *os.File) error {
	boots := 1
	if b, err := os.ReadFile(countFile); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		boots = n + 1
	}
	f, err := os.Create(countFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "%d\n", boots)
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return err
	}
	_, initGone := os.Stat("/init")
	fmt.Fprintf(con, "TESTSYSINIT: pid=%d boots=%d rootbytes=%d rootmagic=%#x usr=%v initramfs-gone=%v path=%q\n",
		os.Getpid(), boots, int64(st.Blocks)*st.Bsize, st.Type, usrMounted(), initGone != nil, os.Getenv("PATH"))
	return nil
}

func usrMounted() bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[1] == "/usr" && f[2] == "squashfs" && strings.HasPrefix(f[3], "ro") {
			return true
		}
	}
	return false
}
