package qemu

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNetworkIsolatedByDefault(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
		not  string
	}{
		{Config{Kernel: "k", Forwards: []Forward{{8080, 80}}}, "user,id=net0,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80", ""},
		{Config{Kernel: "k", NetCIDR: "169.254.0.0/16", GuestFwds: []string{"tcp:169.254.169.254:80-tcp:127.0.0.1:9"}}, "restrict=on,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-tcp:127.0.0.1:9", ""},
		{Config{Kernel: "k", NetCIDR: "169.254.0.0/16", GuestFwds: []string{"tcp:169.254.169.254:80-cmd:env A=127.0.0.1:9 /bin/relay"}}, "-nic user,id=net0,model=virtio-net-pci,restrict=on,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:env A=127.0.0.1:9 /bin/relay", ""},
		{Config{Kernel: "k", OpenNetwork: true}, "user,id=net0,model=virtio-net-pci", "restrict"},
		{Config{Kernel: "k", NoNetwork: true}, "-nic none", "user"},
	}
	for _, tt := range tests {
		args, err := Args(tt.cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Join(args, " ")
		if !strings.Contains(line, tt.want) || (tt.not != "" && strings.Contains(line, tt.not)) {
			t.Errorf("args %q: want %q, not %q", line, tt.want, tt.not)
		}
	}
	if _, err := Args(Config{Kernel: "k", GuestFwds: []string{"tcp:10.0.2.100:80-cmd:a,b"}}, ""); err == nil {
		t.Error("guestfwd with a comma accepted")
	}
	if _, err := Args(Config{Disk: "d"}, ""); err == nil {
		t.Error("UEFI boot without VARS accepted")
	}
}

func TestConsoleExpect(t *testing.T) {
	c := NewConsole()
	go func() {
		c.Write([]byte("boot\r\nimgbuild-sysinit: hea"))
		time.Sleep(10 * time.Millisecond)
		c.Write([]byte("lthy (2 services)\nlater\n"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	i, line, err := c.Expect(ctx, 0, regexp.MustCompile(`sysinit: healthy`), FailurePattern)
	if err != nil || i != 1 || line != "imgbuild-sysinit: healthy (2 services)" {
		t.Fatalf("Expect = %d %q %v", i, line, err)
	}
	c.Write([]byte("Kernel panic - not syncing\n"))
	_, _, err = c.Expect(ctx, i+1, regexp.MustCompile(`never`), FailurePattern)
	var failed *ErrFailed
	if !errors.As(err, &failed) {
		t.Fatalf("panic line not reported as failure: %v", err)
	}
	c.Close()
	if _, _, err := c.Expect(ctx, c.Len(), regexp.MustCompile(`never`), nil); err == nil {
		t.Fatal("Expect on a closed console did not fail")
	}
}

func TestDiskFormat(t *testing.T) {
	tests := []struct {
		format, want string
	}{
		{"", "file=d,format=raw,"},
		{"qcow2", "file=d,format=qcow2,"},
	}
	for _, tt := range tests {
		args, err := Args(Config{Disk: "d", DiskFormat: tt.format, Vars: "v"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if line := strings.Join(args, " "); !strings.Contains(line, tt.want) {
			t.Errorf("format %q: args %q lack %q", tt.format, line, tt.want)
		}
	}
}

func TestDiskBus(t *testing.T) {
	tests := []struct {
		bus, want string
	}{
		{"", "file=d,format=raw,if=none,id=disk0,cache=unsafe -device virtio-blk-pci,drive=disk0,bootindex=0"},
		{"nvme", "file=d,format=raw,if=none,id=disk0,cache=unsafe -device nvme,serial=imgbuild0,drive=disk0,bootindex=0"},
	}
	for _, tt := range tests {
		args, err := Args(Config{Disk: "d", DiskBus: tt.bus, Vars: "v"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if line := strings.Join(args, " "); !strings.Contains(line, tt.want) {
			t.Errorf("bus %q: args %q lack %q", tt.bus, line, tt.want)
		}
	}
	if _, err := Args(Config{Disk: "d", DiskBus: "ide", Vars: "v"}, ""); err == nil {
		t.Error("unknown bus accepted")
	}
}

func TestFwCfg(t *testing.T) {
	args, err := Args(Config{Disk: "d", Vars: "v", FwCfg: []FwCfg{{Name: "opt/com.coreos/config", File: "/tmp/a,b.ign"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(args, " "); !strings.Contains(line, "-fw_cfg name=opt/com.coreos/config,file=/tmp/a,,b.ign") {
		t.Errorf("args %q lack the fw_cfg entry", line)
	}
	for _, bad := range []FwCfg{{Name: "com.coreos/config", File: "f"}, {Name: "opt/a,b", File: "f"}, {Name: "opt/a"}} {
		if _, err := Args(Config{Disk: "d", Vars: "v", FwCfg: []FwCfg{bad}}, ""); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestCPUAndRNG(t *testing.T) {
	tests := []struct {
		cfg       Config
		want, not string
	}{
		{Config{Kernel: "k"}, "-accel tcg -cpu " + DefaultCPU + " ", "virtio-rng"},
		{Config{Kernel: "k", CPU: CPUPlain}, "-cpu qemu64 ", "-cpu max"},
		{Config{Kernel: "k", KVM: true, CPU: CPUPlain}, "-enable-kvm -cpu host", "qemu64"},
		{Config{Kernel: "k", RNG: true}, "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0", ""},
	}
	for _, tt := range tests {
		args, err := Args(tt.cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Join(args, " ") + " "
		if !strings.Contains(line, tt.want) || (tt.not != "" && strings.Contains(line, tt.not)) {
			t.Errorf("args %q: want %q, not %q", line, tt.want, tt.not)
		}
	}
}

// A line's time is when its first byte arrived: the firmware draws its
// first line long before the newline.
func TestConsoleTimed(t *testing.T) {
	c := NewConsole()
	c.Write([]byte("BdsDxe"))
	time.Sleep(30 * time.Millisecond)
	c.Write([]byte(": starting\nnext"))
	time.Sleep(30 * time.Millisecond)
	c.Write([]byte(" line\n"))
	got := c.Timed()
	if len(got) != 2 || got[0].Text != "BdsDxe: starting" || got[1].Text != "next line" {
		t.Fatalf("lines %+v", got)
	}
	if got[1].At-got[0].At < 25*time.Millisecond {
		t.Errorf("second line at %v, first at %v: want the first's first byte ~30ms earlier", got[1].At, got[0].At)
	}
}

// processCPU agrees with getrusage on this process (to /proc's 10 ms
// ticks), after enough spinning that a zero would show.
func TestProcessCPU(t *testing.T) {
	var ru syscall.Rusage
	for {
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) > 100*time.Millisecond {
			break
		}
	}
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	got := processCPU(os.Getpid())
	if got < want-30*time.Millisecond || got > want+100*time.Millisecond {
		t.Errorf("processCPU = %v, getrusage said %v", got, want)
	}
	if got := processCPU(-1); got != 0 {
		t.Errorf("processCPU(-1) = %v", got)
	}
}

// A disk boot has no CD-ROM or VGA, and no iPXE ROM on the NIC; a
// diskless one keeps the ROM.
func TestFirmwareTrimmed(t *testing.T) {
	args, err := Args(Config{Disk: "d", Vars: "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-nodefaults", "-global virtio-net-pci.romfile= ", "bootindex=0"} {
		if !strings.Contains(line+" ", want) {
			t.Errorf("args %q lack %q", line, want)
		}
	}
	args, err = Args(Config{Vars: "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(args, " "); strings.Contains(line, "romfile") {
		t.Errorf("diskless args %q drop the NIC's boot ROM", line)
	}
}

func TestNetBoot(t *testing.T) {
	args, err := Args(Config{BIOS: true, NetBoot: true, TFTPDir: "/srv/a,b", BootFile: "m.ipxe"}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-boot n", "restrict=on,tftp=/srv/a,,b,bootfile=m.ipxe"} {
		if !strings.Contains(line, want) {
			t.Errorf("args %q: want %q", line, want)
		}
	}
	if strings.Contains(line, "pflash") || strings.Contains(line, "-drive") {
		t.Errorf("BIOS net boot %q: want no pflash and no disk", line)
	}
	args, err = Args(Config{NetBoot: true, Vars: "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(args, " "); !strings.Contains(line, "if=pflash") || !strings.Contains(line, "-boot n") {
		t.Errorf("UEFI net boot %q: want OVMF's pflash and -boot n", line)
	}
}

// A net boot with a disk (the installer's) boots the NIC first, keeps
// its ROM, and puts the disk after it.
func TestNetBootWithDisk(t *testing.T) {
	args, err := Args(Config{Disk: "d", Vars: "v", NetBoot: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"bootindex=1", "-global virtio-net-pci.bootindex=0", "-boot n"} {
		if !strings.Contains(line, want) {
			t.Errorf("args %q lack %q", line, want)
		}
	}
	if strings.Contains(line, "romfile") || strings.Contains(line, "drive=disk0,bootindex=0") {
		t.Errorf("args %q drop the NIC's ROM or boot the disk first", line)
	}
}

// A direct kernel boot takes boot index 0: the disk must not claim it
// (QEMU refuses: "The bootindex 0 has already been used").
func TestDirectBootDiskHasNoBootIndex(t *testing.T) {
	args, err := Args(Config{Disk: "d", Kernel: "k"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(args, " "); strings.Contains(line, "bootindex") {
		t.Errorf("direct boot args %q give the disk a boot index", line)
	}
}

// The console's lines are plain text: OVMF's screen clears and busybox's
// cursor query after its prompt do not reach logs or patterns.
func TestConsoleLinesArePlain(t *testing.T) {
	c := NewConsole()
	c.Write([]byte("\x1b[2J\x1b[01;01H\x1b[=3hBdsDxe: loading\r\n/ # \x1b[6"))
	c.Write([]byte("nimgbuild-sysinit: httpd ready\n"))
	want := []string{"BdsDxe: loading", "/ # imgbuild-sysinit: httpd ready"}
	if got := c.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// TestArm64Args checks that an arm64 guest gets the virt machine, the
// arm64 CPU in place of the x86 model names, and AAVMF, while restrict=on
// stays; and that what is set up for amd64 only is refused.
func TestArm64Args(t *testing.T) {
	args, err := Args(Config{Arch: "arm64", Disk: "d", Vars: "v", CPU: CPUPlain}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-machine virt ", "-cpu " + CPUArm64, "file=" + AAVMFCode, "restrict=on", "virtio-blk-pci"} {
		if !strings.Contains(line, want) {
			t.Errorf("args %q: want %q", line, want)
		}
	}
	if strings.Contains(line, "q35") || strings.Contains(line, "OVMF") {
		t.Errorf("args %q: amd64 machine or firmware", line)
	}
	if args, _ := Args(Config{Arch: "arm64", Kernel: "k", CPU: "neoverse-n1"}, ""); !slices.Contains(args, "neoverse-n1") {
		t.Errorf("an arm64 model asked for is replaced: %q", args)
	}
	if _, err := Args(Config{Arch: "arm64", Disk: "d", Vars: "v", SecureBoot: true}, ""); err == nil {
		t.Error("arm64 Secure Boot accepted")
	}
	if _, err := Args(Config{Arch: "riscv64", Kernel: "k"}, ""); err == nil || !strings.Contains(err.Error(), `arch "riscv64"`) {
		t.Errorf("unknown arch: %v", err)
	}
}
