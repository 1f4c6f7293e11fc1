// Command sysinit is PID 1 of an imgbuild image. Stage-1 mounts ROOT on
// / and USR on /usr and execs it. It mounts the API filesystems, copies
// the factory files, configures the network, applies the per-machine
// config once on the first boot (Ignition, and on aws images the
// instance metadata), supervises the services, marks the boot good once
// they are healthy (or, on a trial boot that does not get there in time,
// records why and reboots so that systemd-boot falls back), saves the
// random seed, and powers off cleanly, on the power button too. On a
// diskless boot asked to, it is the PXE installer instead (installer.go).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/confine"
	"github.com/imgbuild/imgbuild/rootfs/container"
	"github.com/imgbuild/imgbuild/rootfs/journal"
	"github.com/imgbuild/imgbuild/rootfs/network"
	"github.com/imgbuild/imgbuild/rootfs/servicestatus"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/evdev"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/markgood"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/netup"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

const (
	networkWait   = 10 * time.Second
	stopGrace     = 5 * time.Second
	espMountpoint = "/run/imgbuild/esp"
)

var baseEnv = []string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin", "HOME=/", "TERM=linux"}

type sysinit struct {
	con  *supervise.Console
	pid1 bool
	// marking is closed when a started mark-good is done: shutdown
	// waits for it so the ESP is not left mounted mid-rename.
	marking chan struct{}
	cfg     *contract.Config // nil until loaded
	journal *journal.Writer  // nil without one
}

func (s *sysinit) logf(format string, args ...any) {
	s.con.Printf(contract.SysinitMarker+format, args...)
}

func main() {
	switch filepath.Base(os.Args[0]) {
	case contract.LogsCommand:
		os.Exit(journal.Main(os.Args[1:], os.DirFS("/"), os.Stdout, os.Stderr))
	case contract.ServicesCommand:
		paths := servicestatus.Paths{StatusDir: contract.ServiceStatusDir, CgroupRoot: confine.CgroupRoot}
		os.Exit(servicestatus.Main(os.Args[1:], paths, time.Now(), os.Stdout, os.Stderr))
	}
	// A container service's init is sysinit again: it must not take
	// itself for the machine's PID 1, which it also is in its namespace.
	if len(os.Args) > 1 && os.Args[1] == contract.ContainerVerb {
		os.Exit(container.Main(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == confine.Verb {
		os.Exit(confine.ExecMain(os.Args[2:]))
	}
	s := &sysinit{con: supervise.NewConsole(openConsole()), pid1: os.Getpid() == 1}
	defer func() {
		if r := recover(); r != nil {
			s.fatal(fmt.Errorf("panic: %v", r))
		}
	}()
	s.run()
}

// openConsole writes to /dev/console when there is one: stdout may be
// closed when the kernel found no console in the initramfs.
func openConsole() *os.File {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
		return f
	}
	return os.Stdout
}

func (s *sysinit) run() {
	// Catch shutdown requests before anything can send them.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2, unix.SIGINT)
	if err := mountAPI(); err != nil {
		s.fatal(err)
	}
	if s.pid1 {
		// Ctrl-Alt-Del then sends SIGINT to PID 1 instead of resetting.
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
		s.con = supervise.NewConsole(openConsole()) // /dev is mounted now
	}
	cfg, err := loadConfig(contract.Path)
	if err != nil {
		s.fatal(err)
	}
	s.cfg = cfg
	s.openJournal()
	s.logf("started %s %s at %.2f"+contract.SinceBoot, cfg.Name, cfg.Version, sinceBoot().Seconds())
	if s.pid1 {
		go s.keepSeed()
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		s.fatal(err)
	}
	if err := copyFactory(contract.FactoryDir, "/"); err != nil {
		s.logf("%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// lo is instant and services' health checks use it; DHCP runs in
	// the background: only the machine config when it needs the network
	// (a URL source, an http file) and services that asked for it
	// (manifest network: true) wait for it.
	if err := netup.LoopbackUp(); err != nil {
		s.logf("%v", err)
	}
	// The .network files may come from the machine config: the network
	// waits for it, unless the config must first fetch something.
	net := newNetState()
	// The leases outlive the boot's network wait: renewed before they
	// end, or asked for again while unanswered.
	leases := netup.NewKeeper(ctx, s.logf)
	nm := network.NewMachine(network.Options{Dir: contract.NetworkDir, SysClassNet: "/sys/class/net",
		ResolvConf: "/etc/resolv.conf", DHCP: leases.DHCP, Hold: leases.Hold, Drop: leases.Drop, Logf: s.logf})
	go func() {
		<-net.gate
		net.up = s.network(ctx, nm)
		close(net.done)
	}()
	s.machineConfig(ctx, net)
	if net.open() {
		<-net.done // DHCP ran for the config's fetch: now its files
		net.up = s.network(ctx, nm) || net.up
	}
	if name, from := machineHostname(cfg.Hostname); name != "" {
		if err := unix.Sethostname([]byte(name)); err != nil {
			s.logf("hostname %s: %v", name, err)
		} else {
			s.logf("hostname %s (from %s)", name, from)
		}
	}

	s.installIfAsked(ctx, net) // PXE installer: reboots, never returns

	reaper := supervise.NewReaper()
	go reaper.Run(ctx)
	cgroups := ""
	if s.pid1 {
		if cgroups, err = mountCgroup(); err != nil {
			s.logf("%v", err)
		}
	}
	sup, err := supervise.New(cfg.Services, supervise.Options{
		Console: s.con, Logf: s.logf, Reaper: reaper, BaseEnv: baseEnv, EnvDir: contract.ServiceEnvDir, Network: net.done,
		CgroupRoot: cgroups, StatusDir: contract.ServiceStatusDir,
	})
	if err != nil {
		s.fatal(err)
	}
	if s.trialArgsFixed() {
		s.shutdown(sup, actionReboot)
	}
	sup.Start(ctx)
	power := evdev.WatchPower(ctx, "/dev/input/event*", 2*time.Second)
	healthy := sup.Healthy()
	watchdog := s.trialWatchdog(cfg)
	for {
		select {
		case <-watchdog:
			s.trialFailed(sup, cfg, fmt.Sprintf("services not healthy within %s of sysinit's start", healthTimeout(cfg)))
		case <-healthy:
			healthy, watchdog = nil, nil // once per boot
			s.con.Printf(contract.HealthyLine+" (%d services, %.2fs since boot)", len(cfg.Services), sinceBoot().Seconds())
			s.marking = make(chan struct{})
			go func() {
				defer close(s.marking)
				s.markGood()
			}()
		case sig := <-sigs:
			s.shutdown(sup, actionFor(sig.(unix.Signal)))
		case <-power:
			s.shutdown(sup, actionPowerOff)
		}
	}
}

// network configures the NICs (package network: the .network files,
// else DHCP on the first NIC), giving up after networkWait so that what
// waits for it goes on anyway; it reports whether the machine has an
// address.
func (s *sysinit) network(ctx context.Context, nm *network.Machine) bool {
	ctx, cancel := context.WithTimeout(ctx, networkWait)
	defer cancel()
	return nm.Configure(ctx)
}

func (s *sysinit) markGood() {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		s.logf("mark good: %v", err)
		return
	}
	if contract.IsPXE(string(cmdline)) {
		s.logf("nothing to mark: diskless boot (%s=1), no ESP", contract.KeyPXE)
		return
	}
	if _, ok := contract.Param(string(cmdline), contract.KeyESP); !ok {
		s.logf("nothing to mark: no imgbuild.esp= on the command line")
		return
	}
	res, err := markgood.Mark(strings.TrimSpace(string(cmdline)), "/sys/block", "/dev", espMountpoint)
	switch {
	case err != nil:
		s.logf("%v", err)
	case res.Entry == "":
		s.logf("nothing to mark: no counted boot entry for this slot")
	default:
		s.con.Printf(contract.MarkedGoodLine+"%s", res.Entry)
	}
}

// fatal reports an unrecoverable error. As PID 1 exiting would panic the
// kernel, so power off instead; or, during a trial boot, reboot so that
// the boot loader counts the try and falls back.
func (s *sysinit) fatal(err error) {
	s.con.Printf(contract.SysinitFatal+": %v", err)
	if !s.pid1 {
		os.Exit(1)
	}
	if contract.TrialBoot(contract.EfivarsDir) {
		s.writeTrialFailure(s.cfg, "sysinit: "+err.Error())
		s.closeJournal()
		unix.Sync()
		s.logf("trial boot failed: reboot")
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		select {}
	}
	s.closeJournal()
	unix.Sync()
	s.logf("power off")
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
