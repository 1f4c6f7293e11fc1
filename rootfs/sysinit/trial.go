package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/markgood"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

// healthTimeout is how long a trial boot may take to become healthy.
func healthTimeout(cfg *contract.Config) time.Duration {
	ms := int64(contract.DefaultHealthTimeoutMS)
	if cfg.Update != nil && cfg.Update.HealthTimeoutMS > 0 {
		ms = cfg.Update.HealthTimeoutMS
	}
	return time.Duration(ms) * time.Millisecond
}

// trialWatchdog fires when a trial boot is not healthy in time; nil
// when this boot is not counted.
func (s *sysinit) trialWatchdog(cfg *contract.Config) <-chan time.Time {
	if !contract.TrialBoot(contract.EfivarsDir) {
		return nil
	}
	d := healthTimeout(cfg)
	s.logf("trial boot: services must be healthy within %s", d)
	return time.After(d)
}

// trialArgsFixed gives a trial boot's entry its release's kernel
// arguments when an agent from before kernel_args kept the old ones
// (markgood.FixArgs) and reports whether it did: then this boot reboots
// at once, before any service, so the release is tried with them.
func (s *sysinit) trialArgsFixed() bool {
	if !contract.TrialBoot(contract.EfivarsDir) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		s.logf("kernel arguments: %v", err)
		return false
	}
	if contract.IsPXE(string(cmdline)) {
		return false
	}
	a, err := markgood.FixArgsOnESP(strings.TrimSpace(string(cmdline)), "/sys/block", "/dev", espMountpoint)
	if err != nil {
		s.logf("%v", err)
		return false
	}
	if a == nil {
		return false
	}
	s.con.Printf(contract.TrialArgsLine+" %s are not this entry's [%s] (written by an agent from before kernel_args): %s rewritten with them, the try given back; rebooting",
		a.Version, strings.Join(a.Was, " "), a.Entry)
	return true
}

// trialFailed records why the trial boot gives up and reboots, so that
// systemd-boot counts the try and falls back once none are left.
func (s *sysinit) trialFailed(sup *supervise.Supervisor, cfg *contract.Config, reason string) {
	s.con.Printf(contract.SysinitMarker+"TRIAL FAILED: %s; rebooting so that the boot loader falls back", reason)
	s.writeTrialFailure(cfg, reason)
	s.shutdown(sup, actionReboot)
}

// writeTrialFailure writes contract.TrialFailure on ROOT (best effort:
// the rollback happens whether or not the reason survives).
func (s *sysinit) writeTrialFailure(cfg *contract.Config, reason string) {
	r := contract.TrialFailureReport{Reason: reason, Console: s.con.Recent()}
	if cfg != nil {
		r.Version = cfg.Version
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		r.Slot, _ = contract.Param(string(b), contract.KeySlot)
	}
	for _, l := range r.Console {
		if strings.Contains(l, "health check failing") {
			r.Probe = strings.TrimPrefix(l, contract.SysinitMarker)
		}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return
	}
	if err := writeSynced(contract.TrialFailure, append(data, '\n')); err != nil {
		s.logf("trial failure report: %v", err)
	}
}

// writeSynced makes path's directories and writes it durably: the
// report must outlive the reboot that follows.
func writeSynced(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFile(path, data, 0o644)
}
