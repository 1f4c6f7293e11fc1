package qemutests

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/qemu"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
}

// TestMinimalBootRebootPersist boots the minimal image, checks the HTTP
// service from the host, writes a file to ROOT, powers off, checks the
// boot entry was marked good, boots again and finds the file.
func TestMinimalBootRebootPersist(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	img := diskCopy(t, res)
	vars := filepath.Join(t.TempDir(), "vars.fd")
	port := freePort(t)

	before, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Entries) != 1 || before.Entries[0].File != "imgbuild-a+3.conf" {
		t.Fatalf("fresh image entries = %+v, want imgbuild-a+3.conf", before.Entries)
	}

	v := boot(t, img, vars, 512, qemu.Forward{Host: port, Guest: 8080})
	v.Expect(0, `imgbuild-stage1: started`, 3*time.Minute)
	v.Expect(0, `imgbuild-stage1: ROOT: first boot`, time.Minute)
	v.Expect(0, `imgbuild-sysinit: network eth0`, time.Minute)
	v.ExpectHealthy(2 * time.Minute)
	v.Expect(0, `imgbuild-sysinit: marked good loader/entries/imgbuild-a.conf`, time.Minute)

	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatalf("HTTP service through the port forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from imgbuild minimal") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if got := v.Run("echo kept-across-reboots > /root-marker && sync && cat /root-marker", time.Minute); got != "kept-across-reboots" {
		t.Fatalf("writing to ROOT: %q", got)
	}
	if got := v.Run("cat /etc/hostname 2>/dev/null || hostname", time.Minute); got != "minimal" {
		t.Errorf("hostname = %q", got)
	}
	v.Powerdown()

	after, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Entries) != 1 || after.Entries[0].File != "imgbuild-a.conf" || after.Entries[0].State() != "good" {
		t.Fatalf("after a healthy boot, entries = %+v, want imgbuild-a.conf (good)", after.Entries)
	}

	v2 := boot(t, img, vars, 512, qemu.Forward{Host: port, Guest: 8080})
	v2.Expect(0, `imgbuild-stage1: ROOT: ext4 found`, 3*time.Minute)
	v2.ExpectHealthy(2 * time.Minute)
	if got := v2.Run("cat /root-marker", time.Minute); got != "kept-across-reboots" {
		t.Fatalf("after reboot /root-marker = %q", got)
	}
	// busybox poweroff signals PID 1 (SIGUSR2), as a person at the
	// console would shut down.
	from := v2.Console.Len()
	v2.Type("poweroff\n")
	v2.Expect(from, `imgbuild-sysinit: shutting down`, time.Minute)
	v2.Expect(from, `imgbuild-sysinit: power off`, time.Minute)
}

// TestRootGrowsToEnlargedDisk enlarges the disk file before the first
// boot; stage-1 must grow ROOT to the new end of the disk.
func TestRootGrowsToEnlargedDisk(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	img := diskCopy(t, res)
	st, _ := os.Stat(img)
	if err := os.Truncate(img, st.Size()+512<<20); err != nil {
		t.Fatal(err)
	}
	v := boot(t, img, filepath.Join(t.TempDir(), "vars.fd"), 512)
	v.ExpectHealthy(3 * time.Minute)
	sectors := v.Run("cat /sys/class/block/vda9/size", time.Minute)
	dfKB := v.Run("df -k / | tail -1 | awk '{print $2}'", time.Minute)
	v.Powerdown()

	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	root, ok := info.Partition(9)
	if !ok {
		t.Fatal("no ROOT partition after boot")
	}
	if want := info.Size - 1<<20 - root.Start; root.Size < want-1<<20 {
		t.Errorf("ROOT in the GPT is %d MiB, want about %d MiB (to the disk's end)", root.Size>>20, want>>20)
	}
	if n, _ := strconv.ParseInt(sectors, 10, 64); n*512 != root.Size {
		t.Errorf("guest sees ROOT as %s sectors, GPT says %d bytes", sectors, root.Size)
	}
	if kb, _ := strconv.ParseInt(dfKB, 10, 64); kb < (root.Size>>10)*8/10 {
		t.Errorf("ROOT file system is %s KiB, partition %d KiB: not grown", dfKB, root.Size>>10)
	}
}
