// Command stage1 is the /init of imgbuild's initramfs: it loads the
// modules, finds USR and ROOT by PARTUUID, checks the booting slot's
// release record against the trusted keys (record.go) and sets USR up
// under dm-verity with the record's root hash, makes ROOT on first boot
// (grown to the disk, formatted), feeds the saved random seed to the
// kernel, mounts both and switches to sysinit on USR. A diskless (PXE)
// boot takes USR from the initramfs instead and ROOT from tmpfs or a
// local disk (pxe.go). docs/layout.md is its contract.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
	"github.com/imgbuild/imgbuild/internal/randomseed"
	"golang.org/x/sys/unix"
)

const (
	sysroot        = "/sysroot"
	partitionWait  = 10 * time.Second
	partitionPoll  = 50 * time.Millisecond
	consoleFlushAt = time.Second
)

// stepError names the step that failed, for the FATAL marker.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }

func fail(step string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step, err}
}

func main() {
	con := &console{w: os.Stderr}
	var cfg contract.Cmdline
	err := run(&con, &cfg)
	se, ok := err.(*stepError)
	if !ok {
		se = &stepError{"stage1", err}
	}
	con.fatal(se.step, se.err)
	halt(con, cfg)
}

// halt ends a failed boot: a shell when asked for and present; during a
// trial boot a reboot, so that systemd-boot counts the try and falls
// back to the last good slot once none are left (ROOT is not mounted
// yet, so the reason stays on the console); otherwise power off after
// the console had time to drain.
func halt(con *console, cfg contract.Cmdline) {
	if cfg.DebugShell {
		if _, err := os.Stat("/bin/sh"); err == nil {
			unix.Exec("/bin/sh", []string{"/bin/sh"}, os.Environ())
		}
	}
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if trialBoot() {
		con.printf("trial boot failed: rebooting so that the boot loader falls back")
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	time.Sleep(consoleFlushAt)
	unix.Sync()
	unix.Reboot(cmd)
	for {
		time.Sleep(time.Hour) // PID 1 must not exit
	}
}

// run is the boot flow; it only returns on failure.
func run(conp **console, cfg *contract.Cmdline) error {
	if err := mountAll(earlyMounts); err != nil {
		return fail("mount API filesystems", err)
	}
	con := openConsole()
	*conp = con
	var uts unix.Utsname
	unix.Uname(&uts)
	con.printf("started (kernel %s, %s since boot)", unix.ByteSliceToString(uts.Release[:]), seconds(sinceBoot()))

	t := time.Now()
	n, skipped, err := loadModules(moduleDir, finitModule)
	if err != nil {
		return fail("load modules", err)
	}
	con.printf("loaded %d modules in %s", n, seconds(time.Since(t)))
	con.phase("modules")
	if len(skipped) > 0 {
		con.printf("skipped %s: no such device here", strings.Join(skipped, ", "))
	}
	// Informational: the firmware already enforced Secure Boot before
	// we ran, so a failure to read the state does not stop the boot.
	if state, err := secureBootState(); err != nil {
		con.printf("Secure Boot state unknown: %v", err)
	} else {
		con.printf("Secure Boot %s", state)
	}

	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fail("read /proc/cmdline", err)
	}
	if contract.IsPXE(string(b)) { // diskless: pxe.go
		v, _ := contract.Param(string(b), contract.KeyDebug)
		cfg.DebugShell = v == "shell"
		return runPXE(con, string(b))
	}
	if *cfg, err = contract.ParseCmdline(string(b)); err != nil {
		return fail("kernel command line", err)
	}

	if cfg.ESP == "" {
		return fail("kernel command line", fmt.Errorf(contract.KeyESP+"= missing: the release record that vouches for USR lives on the ESP"))
	}
	parts, err := blockdev.System.WaitFor([]string{cfg.USR, cfg.Root, cfg.ESP}, partitionWait, partitionPoll)
	if err != nil {
		return fail("find partitions", err)
	}
	usr, root := parts[cfg.USR], parts[cfg.Root]
	con.printf("USR %s, ROOT %s", usr.Node, root.Node)
	con.phase("partitions")

	t = time.Now()
	msg, err := prepareRoot(root, con.printf)
	if err != nil {
		return fail("ROOT", err)
	}
	con.printf("ROOT: %s in %s", msg, seconds(time.Since(t)))
	con.phase("ROOT")

	t = time.Now()
	usrDev, err := openUSR(con, usr, parts[cfg.ESP], *cfg)
	if err != nil {
		return fail("verify USR", err)
	}
	con.printf("dm-verity set up in %s", seconds(time.Since(t)))
	con.phase("verity")
	if err := mountSysroot(root.Node, usrDev); err != nil {
		return fail("mount", err)
	}
	con.phase("mount")
	// As early as ROOT is there: nothing after this may wait for the
	// kernel's entropy pool, and a credited seed makes it ready now.
	if l, err := randomseed.Load(sysroot+contract.RandomSeed, randomseed.Linux{}); err != nil {
		con.printf("%v", err)
	} else {
		con.printf("%s", l)
	}
	if err := checkInit(sysroot + contract.SysinitPath); err != nil {
		return fail("USR", err)
	}
	con.printf("switching to USR (slot %s) after %s", cfg.Slot, seconds(sinceBoot()))
	return fail("switch root", switchRoot(sysroot, contract.SysinitPath, []string{"/dev", "/proc", "/sys", "/run"}))
}
