// Command imgbuild-agent is the update agent on USR. As a service
// ("run") it checks the configured update server every interval and
// installs what it offers into the passive slot; "status" shows where
// the machine stands and why it is not updating; "install" installs a
// release from a repository directory, channel file or URL by hand (for
// sites without a server). The work is done by package rootfs/updater.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
	"github.com/imgbuild/imgbuild/rootfs/cluster/lockclient"
	"github.com/imgbuild/imgbuild/rootfs/updater"
)

const (
	runDir     = "/run/imgbuild/agent"
	trialRetry = 10 * time.Second
	// lockFile is the reboot lock's wait, for status; in /run, as it
	// is about this boot only.
	lockFile = runDir + "/rebootlock.json"
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: imgbuild-agent run | status [--json] | install [--channel C] FILE|DIR|URL\n")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cfg, err := loadConfig()
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "run":
		err = run(cfg)
	case "status":
		err = status(cfg, os.Args[2:])
	case "install":
		err = install(cfg, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "imgbuild-agent: %v\n", err)
	os.Exit(1)
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// loadConfig reads the image's update configuration; an image without
// an update server still has the agent for status and install.
func loadConfig() (contract.Config, error) {
	var c contract.Config
	data, err := os.ReadFile(contract.Path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", contract.Path, err)
	}
	if c.Update == nil {
		c.Update = &contract.UpdateConfig{Channel: "stable", Reboot: "off"}
	}
	return c, nil
}

// open mounts the ESP and returns the agent with the configuration's
// pin and the server's reporter.
func open(cfg contract.Config) (*updater.Agent, func() error, error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, nil, err
	}
	a, closeFn, err := updater.Open(cmdline, runDir, blockdev.System)
	if err != nil {
		return nil, nil, err
	}
	a.Pin, a.Logf = cfg.Update.Pin, logf
	return a, closeFn, nil
}

func status(cfg contract.Config, args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Parse(args)
	a, closeFn, err := open(cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	a.Logf = nil
	st, err := a.Status(cfg.Update.Server, cfg.Update.Channel)
	if err != nil {
		return err
	}
	lock, err := updater.LoadLockState(lockFile)
	if err != nil {
		return err
	}
	st.AddLock(lock, time.Now())
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Print(st.Text())
	return nil
}

func install(cfg contract.Config, args []string) error {
	fs := flag.NewFlagSet("install", flag.ExitOnError)
	channel := fs.String("channel", cfg.Update.Channel, "channel to read from a repository")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	src, ch, err := updater.LocalSource(fs.Arg(0), *channel)
	if err != nil {
		return err
	}
	a, closeFn, err := open(cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	installed, err := a.CheckStatic(context.Background(), src, ch)
	if err != nil {
		return err
	}
	if !installed {
		logf("nothing to install: %s offers what this machine runs or has installed", src)
		return nil
	}
	logf("installed; reboot to try it (it rolls back by itself if it does not become healthy)")
	return nil
}

// run is the service: check, install, reboot per update.reboot (with
// fleetlock, once the reboot lock is granted), sleep.
func run(cfg contract.Config) error {
	u := cfg.Update
	if u.Server == "" {
		logf("no update server configured; idle")
		select {}
	}
	interval := time.Duration(u.IntervalMS) * time.Millisecond
	if interval <= 0 {
		interval = time.Hour
	}
	logf("following channel %s of %s every %s", u.Channel, u.Server, interval)
	var lock *updater.RebootLock
	if u.Reboot == "fleetlock" && u.FleetLock != nil {
		var err error
		if lock, err = settle(cfg); err != nil {
			return err
		}
	}
	for {
		installed, err := checkOnce(cfg)
		wait := interval
		switch {
		case errors.Is(err, updater.ErrTrial):
			wait = trialRetry
		case err != nil:
			var r *updater.Refusal
			if !errors.As(err, &r) {
				logf("check: %v", err)
			}
		case installed && u.Reboot == "immediate":
			logf("rebooting into the new release")
			return reboot()
		case installed && lock != nil:
			if err := lock.Acquire(context.Background()); err != nil {
				return err
			}
			logf("reboot lock granted; rebooting into the new release")
			return reboot()
		}
		time.Sleep(wait)
	}
}

// reboot asks sysinit for a clean reboot (SIGTERM to PID 1) and waits
// for it.
func reboot() error {
	if err := unix.Kill(1, unix.SIGTERM); err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	select {}
}

// settle gives back the reboot lock once this boot is settled (marked
// good, or rolled back), as Zincati does at start: a slot held by a
// trial that failed is returned by the boot that follows it. It
// returns the lock to take before the next reboot.
func settle(cfg contract.Config) (*updater.RebootLock, error) {
	f := cfg.Update.FleetLock
	a, closeFn, err := open(cfg)
	if err != nil {
		return nil, err
	}
	id, err := a.ID()
	closeFn()
	if err != nil {
		return nil, err
	}
	c := &lockclient.Client{URL: f.URL, Group: f.Group, ID: id, HTTP: &http.Client{Timeout: 30 * time.Second}}
	lock := updater.NewRebootLock(c, f.URL, f.Group, lockFile, logf)
	ctx := context.Background()
	err = lock.WaitSettled(ctx, func() (bool, error) {
		a, closeFn, err := open(cfg)
		if err != nil {
			return false, err
		}
		defer closeFn()
		return a.BootSettled()
	}, trialRetry)
	if err != nil {
		return nil, err
	}
	if err := lock.Release(ctx); err != nil {
		return nil, err
	}
	logf("reboot lock of group %s at %s released (or not held)", f.Group, f.URL)
	return lock, nil
}

func checkOnce(cfg contract.Config) (bool, error) {
	a, closeFn, err := open(cfg)
	if err != nil {
		return false, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	u := cfg.Update
	if updater.IsOmaha(u.Server) {
		return a.CheckOmaha(ctx, u.Server, u.Channel)
	}
	return a.CheckStatic(ctx, updater.Source{URL: u.Server}, u.Channel)
}
