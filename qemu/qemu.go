// Package qemu boots images under QEMU: UEFI (OVMF) from a GPT disk, or a
// kernel and initramfs directly. Guest networking is isolated by default
// (user-mode networking with restrict=on): the guest reaches nothing
// outside, yet DHCP and the configured port forwards work.
package qemu

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Firmware paths of Debian's ovmf package: the firmware when no QEMU
// firmware descriptor names one (FindFirmware).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Firmware paths of Debian's qemu-efi-aarch64 package, for arm64 guests.
// Both are already the 64 MiB the virt machine's pflash banks want.
const (
	AAVMFCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	AAVMFVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
)

// CPUArm64 is the arm64 guests' TCG model: the plainest ARMv8.0 core a
// user has (max would emulate pointer authentication and cost boot
// time), with the crypto extensions the image's sha2_ce uses.
const CPUArm64 = "cortex-a57"

// guest is what differs between the arches QEMU emulates for an image.
type guest struct {
	binary, pkg       string // qemu-system-x86_64 and the Debian package with it
	machine           string
	code, vars, fwPkg string // Debian's firmware paths and package
	// qemuArch and versionedMachine are how firmware descriptors name
	// the arch and machine (x86_64, pc-q35-7.2).
	qemuArch, versionedMachine string
}

// guestFor is arch's (a GOARCH; "" is amd64) emulator, machine and
// firmware.
func guestFor(arch string) (guest, error) {
	switch arch {
	case "", "amd64":
		return guest{binary: "qemu-system-x86_64", pkg: "qemu-system-x86", machine: "q35", code: OVMFCode, vars: OVMFVars, fwPkg: "ovmf",
			qemuArch: "x86_64", versionedMachine: "pc-q35-7.2"}, nil
	case "arm64":
		return guest{binary: "qemu-system-aarch64", pkg: "qemu-system-arm", machine: "virt", code: AAVMFCode, vars: AAVMFVars, fwPkg: "qemu-efi-aarch64",
			qemuArch: "aarch64", versionedMachine: "virt-7.2"}, nil
	}
	return guest{}, fmt.Errorf("qemu: arch %q: want amd64 or arm64", arch)
}

// CPU models for software emulation (TCG).
const (
	// CPUMax emulates every feature QEMU can, RDRAND included, so the
	// guest kernel's entropy pool is ready as soon as it boots.
	CPUMax = "max"
	// CPUPlain is QEMU's own default model: no RDRAND, as on many
	// hypervisors' default models. The guest's entropy pool then fills
	// from interrupts, jitter and the seed the image keeps on ROOT.
	CPUPlain = "qemu64"
	// DefaultCPU is the model when Config.CPU is empty (the tests'
	// boots); imgbuild run asks for CPUPlain.
	DefaultCPU = CPUMax
)

// Forward is a TCP forward from 127.0.0.1:Host to the guest's port Guest.
type Forward struct{ Host, Guest int }

// Config describes one VM.
type Config struct {
	// Arch is the guest's GOARCH: amd64 (default; q35, OVMF) or arm64
	// (qemu-system-aarch64's virt machine, AAVMF, CPUArm64).
	Arch string
	Disk string // disk image; booted through OVMF unless Kernel is set
	// DiskFormat is Disk's QEMU format, e.g. qcow2; default raw.
	DiskFormat string
	// DiskBus attaches the disk: virtio (default) or nvme, as EC2's
	// Nitro instances attach EBS volumes.
	DiskBus string
	// Direct kernel boot, for fast development boots and tests.
	Kernel, Initrd, Append string

	// BIOS boots through QEMU's default legacy BIOS (SeaBIOS) instead
	// of OVMF: no pflash, no VARS file.
	BIOS bool
	// NetBoot boots from the network first (-boot n), as a diskless
	// machine does: the NIC's iPXE option ROM (Debian's ipxe-qemu:
	// pxe-virtio.rom under SeaBIOS, efi-virtio.rom under OVMF) gets a
	// DHCP lease and its boot file from QEMU's user-mode network.
	NetBoot bool
	// TFTPDir is served by QEMU's built-in TFTP server; BootFile is the
	// file name (or URL) DHCP hands the firmware.
	TFTPDir, BootFile string

	Code string // UEFI code; default OVMFCode (AAVMFCode on arm64)
	// Vars is this VM's own copy of the UEFI variable store. It is made
	// from VarsTemplate when missing and kept, so reboots of the same VM
	// keep firmware state (and boot faster).
	Vars, VarsTemplate string
	SecureBoot         bool // q35 with SMM and secure pflash

	MemoryMiB int
	CPUs      int
	KVM       bool // -cpu host; CPU is then ignored
	// CPU is the TCG CPU model (CPUMax, CPUPlain, or any QEMU model
	// name); empty means DefaultCPU.
	CPU string
	// RNG attaches a virtio-rng device fed from the host's /dev/urandom.
	RNG bool

	Forwards []Forward
	// GuestFwds are raw guestfwd= rules. The form
	// "tcp:169.254.169.254:80-tcp:127.0.0.1:9999" serves one connection
	// only; "tcp:169.254.169.254:80-cmd:PROGRAM ARGS" starts PROGRAM for
	// each connection, with stdin and stdout on it. No commas.
	GuestFwds   []string
	NetCIDR     string // guest network, e.g. 169.254.0.0/16 for a metadata server
	OpenNetwork bool   // allow the guest out through this machine (off by default)
	NoNetwork   bool   // no user-mode NIC (a Segment NIC is still attached)
	// Segment attaches a second virtio NIC to a private Ethernet segment
	// of VMs (Segment.Port, StartCluster), after the user-mode one.
	Segment *Port

	// AllowReboot keeps QEMU running across a guest reboot; by default
	// a reboot ends QEMU like a power-off, so callers see each boot.
	AllowReboot bool

	// FwCfg are fw_cfg entries passed to the guest (-fw_cfg name=,file=),
	// e.g. the per-machine config under contract.IgnitionFwCfg.
	FwCfg []FwCfg

	Stdin  io.Reader // serial console input; nil for none
	Output io.Writer // a copy of the serial console; may be nil
	Extra  []string  // more QEMU arguments
}

// FwCfg is one fw_cfg entry: Name (opt/...) holds File's content.
type FwCfg struct{ Name, File string }

// fwCfgArgs: QEMU's option syntax doubles a comma inside a value.
func fwCfgArgs(entries []FwCfg) ([]string, error) {
	var args []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name, "opt/") || strings.Contains(e.Name, ",") {
			return nil, fmt.Errorf("qemu: fw_cfg name %q: want opt/... without commas", e.Name)
		}
		if e.File == "" {
			return nil, fmt.Errorf("qemu: fw_cfg %s: no file", e.Name)
		}
		args = append(args, "-fw_cfg", "name="+e.Name+",file="+strings.ReplaceAll(e.File, ",", ",,"))
	}
	return args, nil
}

// VM is a running QEMU.
type VM struct {
	Console *Console
	cmd     *exec.Cmd
	qmpPath string
	dir     string
	done    chan struct{}
	err     error
}

// Args returns the QEMU command line for cfg; qmpPath is the QMP socket.
func Args(cfg Config, qmpPath string) ([]string, error) {
	mem := cfg.MemoryMiB
	if mem == 0 {
		mem = 1024
	}
	cpus := cfg.CPUs
	if cpus == 0 {
		cpus = 1
	}
	g, err := guestFor(cfg.Arch)
	if err != nil {
		return nil, err
	}
	machine := g.machine
	if cfg.SecureBoot {
		if machine != "q35" {
			return nil, fmt.Errorf("qemu: Secure Boot is set up for amd64 guests only, not %s", cfg.Arch)
		}
		machine = "q35,smm=on"
	}
	// -nodefaults: no CD-ROM drive for the firmware to try first, no VGA
	// for it and the kernel to draw on; the serial console is all we read.
	args := []string{"-machine", machine, "-nodefaults", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-display", "none", "-serial", "stdio", "-monitor", "none"}
	if !cfg.AllowReboot {
		args = append(args, "-no-reboot")
	}
	if qmpPath != "" {
		args = append(args, "-qmp", "unix:"+qmpPath+",server=on,wait=off")
	}
	if cfg.KVM {
		args = append(args, "-enable-kvm", "-cpu", "host")
	} else {
		cpu := cfg.CPU
		if cpu == "" {
			cpu = DefaultCPU
		}
		if g.machine == "virt" && (cpu == CPUMax || cpu == CPUPlain) {
			// The x86 names mean nothing to qemu-system-aarch64.
			cpu = CPUArm64
		}
		args = append(args, "-accel", "tcg", "-cpu", cpu)
	}
	if cfg.RNG {
		args = append(args, "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0")
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel, "-append", cfg.Append)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
	} else if !cfg.BIOS {
		code := cfg.Code
		if code == "" {
			fw, err := firmwareFor(cfg.Arch)
			if err != nil {
				return nil, err
			}
			code = fw.Code
		}
		if cfg.Vars == "" {
			return nil, fmt.Errorf("qemu: UEFI boot needs a VARS file")
		}
		if cfg.SecureBoot {
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+cfg.Vars)
	}
	if cfg.Disk != "" {
		format := cfg.DiskFormat
		if format == "" {
			format = "raw"
		}
		// bootindex puts the disk in QEMU's fw_cfg boot order, and with a
		// boot order OVMF connects only the devices in it: not the NIC's
		// network stack, which a disk boot never uses.
		// A net boot with a disk (the PXE installer's target) puts the
		// NIC first and the disk after it.
		// A direct kernel boot takes boot index 0 itself.
		index := ",bootindex=0"
		switch {
		case cfg.Kernel != "":
			index = ""
		case cfg.NetBoot:
			index = ",bootindex=1"
		}
		var dev string
		switch cfg.DiskBus {
		case "", "virtio":
			dev = "virtio-blk-pci,drive=disk0" + index
		case "nvme":
			dev = "nvme,serial=imgbuild0,drive=disk0" + index
		default:
			return nil, fmt.Errorf("qemu: disk bus %q: want virtio or nvme", cfg.DiskBus)
		}
		args = append(args, "-drive", "file="+cfg.Disk+",format="+format+",if=none,id=disk0,cache=unsafe", "-device", dev)
		switch {
		case cfg.NoNetwork:
		case cfg.NetBoot:
			args = append(args, "-global", "virtio-net-pci.bootindex=0")
		default:
			// Nor does a disk boot need the NIC's iPXE option ROM,
			// which OVMF would load anyway. A diskless boot keeps it.
			args = append(args, "-global", "virtio-net-pci.romfile=")
		}
	}
	for _, g := range cfg.GuestFwds {
		// QEMU would split the -nic option there.
		if strings.Contains(g, ",") {
			return nil, fmt.Errorf("qemu: guestfwd %q: no commas", g)
		}
	}
	if cfg.NetBoot {
		args = append(args, "-boot", "n")
	}
	args = append(args, netArgs(cfg)...)
	if cfg.Segment != nil {
		if cfg.NetBoot {
			// NetBoot's -global bootindex would apply to both NICs,
			// which QEMU refuses.
			return nil, fmt.Errorf("qemu: a net boot with a segment NIC is not supported")
		}
		seg, err := segmentArgs(cfg.Segment)
		if err != nil {
			return nil, err
		}
		args = append(args, seg...)
	}
	fw, err := fwCfgArgs(cfg.FwCfg)
	if err != nil {
		return nil, err
	}
	args = append(args, fw...)
	return append(args, cfg.Extra...), nil
}

// userNet is the user-mode network's name, for SetLink.
const userNet = "net0"

func netArgs(cfg Config) []string {
	if cfg.NoNetwork {
		return []string{"-nic", "none"}
	}
	nic := []string{"user", "id=" + userNet, "model=virtio-net-pci"}
	if !cfg.OpenNetwork {
		nic = append(nic, "restrict=on")
	}
	if cfg.NetCIDR != "" {
		nic = append(nic, "net="+cfg.NetCIDR)
	}
	for _, f := range cfg.Forwards {
		nic = append(nic, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest))
	}
	if cfg.TFTPDir != "" {
		nic = append(nic, "tftp="+strings.ReplaceAll(cfg.TFTPDir, ",", ",,"))
	}
	if cfg.BootFile != "" {
		nic = append(nic, "bootfile="+strings.ReplaceAll(cfg.BootFile, ",", ",,"))
	}
	for _, g := range cfg.GuestFwds {
		nic = append(nic, "guestfwd="+g)
	}
	return []string{"-nic", strings.Join(nic, ",")}
}

// Start boots a VM. It ends when the guest powers off, or when ctx is done.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	g, err := guestFor(cfg.Arch)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(g.binary); err != nil {
		return nil, fmt.Errorf("qemu: %s not found (apt-get install %s): %w", g.binary, g.pkg, err)
	}
	if cfg.Kernel == "" && !cfg.BIOS {
		if err := ensureVars(cfg); err != nil {
			return nil, err
		}
		if cfg.Code == "" {
			fw, err := firmwareFor(cfg.Arch)
			if err != nil {
				return nil, err
			}
			if !isFile(fw.Code) {
				return nil, fmt.Errorf("qemu: no UEFI firmware for %s: no QEMU firmware descriptor in %s names one, and %s is missing (install %s on Debian and Ubuntu, edk2-ovmf or edk2-aarch64 elsewhere)",
					g.qemuArch, strings.Join(FirmwareDirs(), ", "), fw.Code, g.fwPkg)
			}
		}
	}
	if cfg.Segment != nil {
		// QEMU binds the port's socket: a former run of the same
		// machine left it behind.
		if err := os.Remove(cfg.Segment.Local); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("qemu: segment: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "imgbuild-qemu-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm := &VM{Console: NewConsole(), qmpPath: filepath.Join(dir, "qmp.sock"), dir: dir, done: make(chan struct{})}
	args, err := Args(cfg, vm.qmpPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	vm.cmd = exec.CommandContext(ctx, g.binary, args...)
	vm.cmd.WaitDelay = 5 * time.Second
	var out io.Writer = vm.Console
	if cfg.Output != nil {
		out = io.MultiWriter(vm.Console, cfg.Output)
	}
	vm.cmd.Stdout = out
	vm.cmd.Stderr = out
	// Copy stdin ourselves: exec's own copy would make Wait block until
	// the caller's reader ends, long after QEMU exited.
	var stdin io.WriteCloser
	if f, ok := cfg.Stdin.(*os.File); ok {
		vm.cmd.Stdin = f // a terminal: QEMU reads it directly
	} else if cfg.Stdin != nil {
		if stdin, err = vm.cmd.StdinPipe(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}
	vm.Console.restart()
	if err := vm.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("qemu: start: %w", err)
	}
	pid := vm.cmd.Process.Pid
	vm.Console.measureCPU(func() time.Duration { return processCPU(pid) })
	if stdin != nil {
		go func() {
			io.Copy(stdin, cfg.Stdin)
			stdin.Close()
		}()
	}
	go func() {
		vm.err = vm.cmd.Wait()
		vm.Console.Close()
		os.RemoveAll(dir)
		close(vm.done)
	}()
	return vm, nil
}

func ensureVars(cfg Config) error {
	if cfg.Vars == "" {
		return fmt.Errorf("qemu: UEFI boot needs a VARS file")
	}
	if _, err := os.Stat(cfg.Vars); err == nil {
		return nil
	}
	g, err := guestFor(cfg.Arch)
	if err != nil {
		return err
	}
	tmpl := cfg.VarsTemplate
	if tmpl == "" {
		fw, err := firmwareFor(cfg.Arch)
		if err != nil {
			return err
		}
		tmpl = fw.Vars
	}
	data, err := os.ReadFile(tmpl)
	if err != nil {
		return fmt.Errorf("qemu: UEFI variable template (install %s on Debian and Ubuntu, edk2-ovmf or edk2-aarch64 elsewhere): %w", g.fwPkg, err)
	}
	return os.WriteFile(cfg.Vars, data, 0o644)
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Wait waits for QEMU to exit and returns its error, if any.
func (vm *VM) Wait() error {
	<-vm.done
	return vm.err
}

// Kill stops QEMU at once.
func (vm *VM) Kill() {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
	<-vm.done
}

// Powerdown presses the ACPI power button, as a person would.
func (vm *VM) Powerdown() error { return vm.qmp("system_powerdown", nil) }

// SetLink takes the user-mode network's cable out (false) or puts it
// back: the guest's NIC sees its carrier go and come, as on a machine
// whose switch port is down.
func (vm *VM) SetLink(up bool) error {
	return vm.qmp("set_link", map[string]any{"name": userNet, "up": up})
}

// FreePort asks the kernel for a port on 127.0.0.1 that was free a
// moment ago, for a host forward (Forward.Host).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
