package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/kernel"
)

// segInit is the /init of the segment test: busybox configures the NIC
// with the machine's segment MAC (not the first NIC: that is the
// user-mode one) and, on the machine given a peer, pings it.
const segInit = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /lib/modules/load.list); do insmod /lib/modules/$m; done
arg() { sed -n "s/.*seg\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
mac=$(arg mac); ip=$(arg ip); peer=$(arg peer)
nic=
for d in /sys/class/net/*; do [ "$(cat $d/address)" = "$mac" ] && nic=${d##*/}; done
echo "SEG-NIC $nic $mac $(ls /sys/class/net | tr '\n' ' ')"
ip link set $nic up && ip addr add $ip/24 dev $nic
if [ -n "$peer" ]; then
  i=0
  while [ $i -lt 90 ]; do
    if ping -c 1 -W 1 $peer >/dev/null 2>&1; then echo "SEG-PING-OK $peer after $i tries"; poweroff -f; fi
    i=$((i+1))
  done
  echo "SEG-PING-FAILED $peer"
  poweroff -f
fi
echo "SEG-READY $ip"
sleep 600
poweroff -f
`

// TestClusterOnSegmentQEMU boots two machines straight into a busybox
// initramfs on one segment: the second pings the first's address on
// the segment NIC, which proves frames cross QEMU's dgram backend and
// the switch both ways, and the switch forwarded (not only flooded).
func TestClusterOnSegmentQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two VMs")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("no qemu-system-x86_64")
	}
	kdir, bbDeb := os.Getenv("IMGBUILD_TEST_KERNEL_DIR"), os.Getenv("IMGBUILD_TEST_BUSYBOX_DEB")
	images, _ := filepath.Glob(filepath.Join(kdir, "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(kdir, "lib", "modules", "*"))
	if kdir == "" || bbDeb == "" || len(images) != 1 || len(mods) != 1 {
		t.Skip(`needs the test kernel and busybox: eval "$(scripts/test-kernel.sh)"`)
	}
	dir := t.TempDir()
	k, err := kernel.FromLocal(images[0], mods[0])
	if err != nil {
		t.Fatal(err)
	}
	closure, err := k.Closure([]string{"virtio_pci", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "bb")
	if out, err := exec.Command("dpkg-deb", "-x", bbDeb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	bb, err := os.ReadFile(filepath.Join(x, "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	in := initramfs.Input{Init: filepath.Join(dir, "init"),
		Files: []initramfs.File{{Path: "/bin/busybox", Data: bb, Mode: 0o755}}}
	for _, m := range closure {
		in.Modules = append(in.Modules, initramfs.Module{Name: m.Name, Path: m.Path})
	}
	if err := os.WriteFile(in.Init, []byte(segInit), 0o755); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	if err := initramfs.Write(f, in); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := func(ip, peer string, i int) Config {
		app := fmt.Sprintf("console=ttyS0,115200 panic=-1 quiet seg.mac=%s seg.ip=%s", SegmentMAC(i), ip)
		if peer != "" {
			app += " seg.peer=" + peer
		}
		return Config{Kernel: k.VmlinuzPath, Initrd: initrd, Append: app, MemoryMiB: 256, CPU: CPUPlain}
	}
	start := time.Now()
	c, err := StartCluster(ctx, "", []Config{cfg("10.99.0.1", "", 0), cfg("10.99.0.2", "10.99.0.1", 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		if t.Failed() {
			for i, vm := range c.VMs {
				t.Logf("machine %d console:\n%s", i, joinLines(vm.Console.Lines()))
			}
		}
	}()
	expect := func(vm *VM, re string) string {
		t.Helper()
		ectx, ecancel := context.WithTimeout(ctx, 3*time.Minute)
		defer ecancel()
		_, line, err := vm.Console.Expect(ectx, 0, regexp.MustCompile(re), regexp.MustCompile(`SEG-PING-FAILED|Kernel panic`))
		if err != nil {
			t.Fatalf("waiting for %q: %v", re, err)
		}
		return line
	}
	// The segment NIC is the second one, found by its MAC.
	t.Log(expect(c.VMs[0], `SEG-NIC eth1 52:54:00:ab:00:01 eth0 eth1 `))
	expect(c.VMs[0], `SEG-READY 10\.99\.0\.1`)
	t.Log(expect(c.VMs[1], `SEG-PING-OK 10\.99\.0\.1`))
	t.Logf("ping across the segment %.1fs after the start", time.Since(start).Seconds())

	learned := c.Segment.Learned()
	for i := range 2 {
		if learned[SegmentMAC(i).String()] == "" {
			t.Errorf("the switch did not learn machine %d's MAC: %v", i, learned)
		}
	}
	if n := c.Segment.Counts(); n.Forwarded < 2 || n.Flooded < 1 {
		t.Errorf("counts %+v: want the ARP flooded and the echo and its reply forwarded", n)
	}
}

func joinLines(l []string) string {
	s := ""
	for _, x := range l {
		s += x + "\n"
	}
	return s
}
