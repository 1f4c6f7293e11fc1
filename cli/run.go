package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/qemu"
)

type runFlags struct {
	untilHealthy bool
	timeout      time.Duration
	openNetwork  bool
	kvm          bool
	memory       int
	forwards     []string
	vars         string
	quiet        bool
	direct       bool
	config       string
	sshPort      int
	cpu          string
	rng          bool
	timeline     bool
	asJSON       bool
	transcript   string
}

func newRun(env Env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run IMAGE",
		Short: "Boot an image under QEMU with UEFI firmware",
		Long: `Run boots the image under QEMU with OVMF (an arm64 image, by the arch in
the build's IMAGE.json: qemu-system-aarch64's virt machine with AAVMF), the
serial console on this terminal. The guest network is isolated: it gets DHCP and the port forwards
from the manifest (or --forward) but reaches nothing else, unless
--open-network is given. The UEFI variables live beside the image
(IMAGE.vars) so the VM keeps its firmware state across runs.`,
		Example: `  imgbuild run out/minimal.img
  imgbuild run out/etcd.img --until-healthy --timeout 5m
  imgbuild run out/minimal.img --forward 8080:8080 --open-network
  imgbuild run out/minimal.img --direct
  imgbuild run out/minimal.img --config node1.ign`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("run takes one image path")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runImage(cmd.Context(), env, args[0], f) },
	}
	f.define(cmd)
	return cmd
}

// define declares run's flags on cmd.
func (f *runFlags) define(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.untilHealthy, "until-healthy", false, "exit 0 once the image reports healthy, non-zero on timeout, panic or failure")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "with --until-healthy: how long to wait")
	fl.BoolVar(&f.openNetwork, "open-network", false, "let the guest reach the network through this machine")
	fl.BoolVar(&f.kvm, "kvm", false, "use KVM instead of software emulation (TCG)")
	fl.IntVar(&f.memory, "memory", 0, "guest memory in MiB (default: the manifest's run.memory)")
	fl.StringSliceVar(&f.forwards, "forward", nil, "TCP forward HOST:GUEST from 127.0.0.1 (default: the manifest's run.forwards)")
	fl.StringVar(&f.vars, "vars", "", "UEFI variable store (default IMAGE.vars)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not copy the console to the terminal")
	fl.StringVar(&f.config, "config", "", "per-machine config (Ignition spec v3 JSON), validated and passed by fw_cfg as "+contract.IgnitionFwCfg)
	fl.IntVar(&f.sshPort, "ssh-port", 0, "host port on 127.0.0.1 forwarded to the image's SSH server (default: a free one)")
	// The plain model by default, so that what a user sees is what a
	// machine without RDRAND does; the image's random seed makes it as
	// fast as -cpu max (qemu-tests/entropy_test.go measures both).
	fl.StringVar(&f.cpu, "cpu", qemu.CPUPlain, "QEMU CPU model under TCG: "+qemu.CPUPlain+" (QEMU's default) has no RDRAND, as many hypervisors' default models; "+qemu.CPUMax+" has")
	// virtio-rng by default, as LinuxKit's and libvirt's runners do and as
	// clouds give RDRAND: a first boot then does not spend ~0.5 s of TCG
	// gathering jitter entropy for sshd's host key. --rng=false is the
	// plainest machine (qemu-tests/entropy_test.go boots it).
	fl.BoolVar(&f.rng, "rng", true, "attach a virtio-rng device fed from this machine's /dev/urandom (--rng=false: a machine with no entropy source but its CPU's)")
	fl.BoolVar(&f.direct, "direct", false, "boot slot A's kernel and initrd directly, skipping the firmware and systemd-boot (faster development boots; boot counting is not exercised)")
	fl.BoolVar(&f.timeline, "timeline", false, "once healthy, print the boot's phases (firmware, loader, kernel, stage-1 and its steps, sysinit, each service) in seconds since QEMU started and by the guest's clock")
	fl.BoolVar(&f.asJSON, "json", false, "with --until-healthy: print the outcome and the boot timeline as JSON on stdout (the console goes to stderr)")
	fl.StringVar(&f.transcript, "transcript", "", "once healthy (or failed), save the console with each line's arrival time to this file")
}

func runImage(ctx context.Context, env Env, image string, f runFlags) error {
	if f.asJSON && !f.untilHealthy {
		return usageError{fmt.Errorf("--json needs --until-healthy: it prints the outcome of a boot")}
	}
	cfg, login, cleanup, err := machine(image, f)
	defer cleanup()
	if err != nil {
		return err
	}
	if login != nil && !f.untilHealthy {
		fmt.Fprintf(env.Stderr, "imgbuild: once healthy, log in with: %s\n", login.command(login.port))
	}
	cfg.Output = consoleOutput(env, f)
	if !f.untilHealthy {
		cfg.Stdin = env.Stdin
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if !f.untilHealthy {
		vm, err := qemu.Start(ctx, cfg)
		if err != nil {
			return err
		}
		if login != nil || f.timeline || f.transcript != "" {
			go func() {
				// Interactive: a failure line may be followed by a
				// reboot into a good slot, so only the healthy line counts.
				_, line, err := vm.Console.Expect(ctx, 0, qemu.HealthyPattern, nil)
				if err != nil {
					return
				}
				if login != nil {
					fmt.Fprintf(env.Stderr, "\r\nimgbuild: log in with: %s\r\n", login.command(login.port))
				}
				if rerr := report(env, runFlags{timeline: f.timeline, transcript: f.transcript}, vm.Console, line, nil); rerr != nil {
					fmt.Fprintf(env.Stderr, "imgbuild: %v\r\n", rerr)
				}
			}()
		}
		return vm.Wait()
	}
	vm, healthy, err := qemu.BootUntilHealthy(ctx, cfg, f.timeout)
	if vm == nil {
		return err
	}
	line := healthy.Line
	var failed *qemu.ErrFailed
	if errors.As(err, &failed) {
		line = failed.Line // --json's line: the one that failed the boot
	}
	if rerr := report(env, f, vm.Console, line, err); rerr != nil {
		vm.Kill()
		return rerr
	}
	if err == nil {
		fmt.Fprintf(env.Stderr, "imgbuild: %s\n", healthy.Line)
		if login != nil {
			fmt.Fprintf(env.Stderr, "imgbuild: to log in over SSH, boot it with imgbuild run %s --ssh-port 2222, then: %s\n", image, login.command(2222))
		}
		vm.Shutdown(60 * time.Second)
		return nil
	}
	vm.Kill()
	if failed != nil {
		return &exitError{ExitUnhealthy, fmt.Errorf("boot failed: %s", failed.Line)}
	}
	return &exitError{ExitUnhealthy, fmt.Errorf("not healthy: %w", err)}
}

// machine is the VM imgbuild run boots for image with flags f, and how
// to log in to it. cleanup (never nil) removes the temporary per-machine
// config once QEMU has exited.
func machine(image string, f runFlags) (cfg qemu.Config, login *sshLogin, cleanup func(), err error) {
	nop := func() {}
	if _, err := os.Stat(image); err != nil {
		return cfg, nil, nop, err
	}
	cfg = qemu.Config{Disk: image, Vars: f.vars, KVM: f.kvm, OpenNetwork: f.openNetwork, MemoryMiB: f.memory, AllowReboot: !f.untilHealthy,
		CPU: f.cpu, RNG: f.rng}
	if cfg.Vars == "" {
		cfg.Vars = image + ".vars"
	}
	if f.direct {
		if err := directBoot(&cfg, image); err != nil {
			return cfg, nil, nop, err
		}
	}
	if f.config != "" {
		if err := withConfig(&cfg, f.config); err != nil {
			return cfg, nil, nop, err
		}
	}
	settings, err := readRunSettings(image)
	if err != nil {
		return cfg, nil, nop, err
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = settings.MemoryMiB
	}
	cfg.Arch = settings.Arch
	fwds, err := parseForwards(f.forwards)
	if err != nil {
		return cfg, nil, nop, usageError{err}
	}
	if f.forwards == nil {
		for _, p := range settings.Forwards {
			fwds = append(fwds, qemu.Forward{Host: p.Host, Guest: p.Guest})
		}
	}
	cfg.Forwards = fwds
	login, cleanup, err = sshSetup(&cfg, settings, f.config, f.sshPort)
	return cfg, login, cleanup, err
}

// RunConfig is the machine "imgbuild run IMAGE --until-healthy ARGS..."
// boots, ARGS being run's flags (--forward 0:8080, --rng=false, ...),
// for a program that boots it itself through qemu.BootUntilHealthy
// (make bench). cleanup removes the temporary per-machine config once
// QEMU has exited.
func RunConfig(image string, args ...string) (cfg qemu.Config, cleanup func(), err error) {
	var f runFlags
	cmd := &cobra.Command{}
	f.define(cmd)
	fl := cmd.Flags()
	if err := fl.Parse(args); err != nil {
		return cfg, func() {}, usageError{err}
	}
	if fl.NArg() != 0 {
		return cfg, func() {}, usageError{fmt.Errorf("run flags only, not %q", fl.Args())}
	}
	f.untilHealthy, f.quiet = true, true
	cfg, _, cleanup, err = machine(image, f)
	return cfg, cleanup, err
}

// withConfig validates a per-machine config and passes it by fw_cfg, as
// Fedora CoreOS's QEMU platform does.
func withConfig(cfg *qemu.Config, path string) error {
	if _, err := readConfig(path); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	cfg.FwCfg = append(cfg.FwCfg, qemu.FwCfg{Name: contract.IgnitionFwCfg, File: abs})
	return nil
}

// readRunSettings reads the run settings that build wrote beside the
// image (NAME.json); an image without them boots with defaults, but one
// whose settings do not parse is refused rather than booted wrongly.
func readRunSettings(image string) (output.RunSettings, error) {
	var res output.Result
	path := jsonBeside(image)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res.Run, nil
	}
	if err != nil {
		return res.Run, fmt.Errorf("run settings: %w", err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res.Run, fmt.Errorf("run settings %s: %w (rebuild the image or remove the file to boot with defaults)", path, err)
	}
	return res.Run, nil
}

func parseForwards(specs []string) ([]qemu.Forward, error) {
	var out []qemu.Forward
	for _, s := range specs {
		h, g, ok := strings.Cut(s, ":")
		hp, err1 := strconv.Atoi(h)
		gp, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil || hp < 0 || hp > 65535 || gp <= 0 || gp > 65535 {
			return nil, fmt.Errorf("--forward %q: want HOST:GUEST ports, e.g. 8080:80", s)
		}
		out = append(out, qemu.Forward{Host: hp, Guest: gp})
	}
	return out, nil
}

// directBoot makes cfg boot the kernel and initramfs that build wrote
// beside the image, with the command line of slot A's boot entry, the
// way systemd-boot would (it adds initrd=).
func directBoot(cfg *qemu.Config, image string) error {
	r, err := inspect.Image(image)
	if err != nil {
		return err
	}
	var options string
	for _, e := range r.Entries {
		if e.ID == "imgbuild-a" {
			options = e.Options
		}
	}
	if options == "" {
		return fmt.Errorf("--direct: %s has no slot A entry with a command line (a Secure Boot image keeps it in its UKI): boot it through the firmware", image)
	}
	base := strings.TrimSuffix(image, filepath.Ext(image))
	cfg.Kernel, cfg.Initrd, cfg.Append = base+".vmlinuz", base+".initrd", options
	for _, p := range []string{cfg.Kernel, cfg.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("--direct needs the kernel and initrd that build writes beside the image: %w", err)
		}
	}
	return nil
}
