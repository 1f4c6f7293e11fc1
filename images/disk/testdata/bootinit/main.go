// Command bootinit is the /init of the boot test's initramfs: it proves
// the kernel started from the ESP we wrote, then powers the VM off.
package main

import (
	"fmt"
	"syscall"
)

func main() {
	fmt.Println("imgbuild-disk-test: init reached")
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Println("imgbuild-disk-test: power off:", err)
	}
	select {}
}
