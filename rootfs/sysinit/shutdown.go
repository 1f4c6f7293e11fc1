package main

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

type action int

const (
	actionPowerOff action = iota
	actionReboot
	actionHalt
)

// actionFor maps the signals that busybox's reboot/poweroff/halt and the
// kernel's ctrl-alt-del send to PID 1.
func actionFor(sig unix.Signal) action {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		return actionReboot
	case unix.SIGUSR1:
		return actionHalt
	}
	return actionPowerOff
}

func (a action) String() string {
	return [...]string{"power off", "reboot", "halt"}[a]
}

func (a action) rebootCmd() int {
	return [...]int{unix.LINUX_REBOOT_CMD_POWER_OFF, unix.LINUX_REBOOT_CMD_RESTART, unix.LINUX_REBOOT_CMD_HALT}[a]
}

// shutdown stops services, then every other process, makes ROOT
// read-only and reboots per a. It does not return as PID 1.
func (s *sysinit) shutdown(sup *supervise.Supervisor, a action) {
	s.logf("shutting down")
	if s.marking != nil {
		select {
		case <-s.marking:
		case <-time.After(stopGrace):
			s.logf("mark good still running; shutting down anyway")
		}
	}
	sup.Stop(stopGrace)
	if !s.pid1 {
		s.logf("%s (not PID 1: exiting)", a)
		os.Exit(0)
	}
	s.saveSeedAtShutdown()
	// Orphans the supervisor does not know about.
	_ = unix.Kill(-1, unix.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	_ = unix.Kill(-1, unix.SIGKILL)
	s.logf("%s: journal closed", a) // its last line
	s.closeJournal()
	unix.Sync()
	// /usr stays mounted (we run from it); ROOT goes read-only so its
	// journal is clean.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		s.logf("remount / read-only: %v", err)
	}
	unix.Sync()
	s.logf("%s", a)
	_ = unix.Reboot(a.rebootCmd())
	select {}
}
