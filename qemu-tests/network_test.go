package qemutests

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// segmentFile is the .network file a machine's config carries for its
// segment NIC, matched by the MAC qemu gives machine i.
const segmentFile = "/etc/systemd/network/10-segment.network"

func segmentNetwork(i int, key string) string {
	return fmt.Sprintf("# the cluster's private segment\n[Match]\nMACAddress=%s\n\n[Network]\n%s=10.77.0.%d/24\nDNS=10.77.0.53\n", qemu.SegmentMAC(i), key, i+1)
}

// networkConfig is a per-machine config with a hostname and a .network
// file.
func networkConfig(t *testing.T, name, network string) string {
	t.Helper()
	return writeFile(t, name+".ign", fmt.Sprintf(`{"ignition":{"version":"3.4.0"},"storage":{"files":[
 {"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,%s%%0A"}},
 {"path":%q,"contents":{"source":"data:,%s"}}]}}`, name, segmentFile, url.PathEscape(network)))
}

// TestClusterStaticNetwork boots two copies of the minimal image on one
// private segment, each with a config whose .network file gives its
// segment NIC (matched by MAC) a static address: one machine reaches the
// other's HTTP service at that address, the first NIC keeps DHCP and
// the host's port forward, and the file's DNS= is resolv.conf's.
func TestClusterStaticNetwork(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	work := t.TempDir()
	port := freePort(t)
	var cfgs []qemu.Config
	for i, name := range []string{"node-a", "node-b"} {
		cfg := machineVM(diskCopy(t, res), filepath.Join(work, name+".fd"), networkConfig(t, name, segmentNetwork(i, "Address")))
		if i == 0 {
			cfg.Forwards = []qemu.Forward{{Host: port, Guest: 8080}}
		}
		cfgs = append(cfgs, cfg)
	}
	start := time.Now()
	vms, seg := vmtest.StartCluster(t, cfgs)
	for i, v := range vms {
		v.Expect(0, fmt.Sprintf(`imgbuild-sysinit: network eth1 10\.77\.0\.%d/24 \(static, from %s\)`, i+1, regexp.QuoteMeta(segmentFile)), 4*time.Minute)
		v.Expect(0, `imgbuild-sysinit: network eth0 10\.0\.2\.15/24`, time.Minute)
		v.Expect(0, `imgbuild-sysinit: healthy`, 2*time.Minute)
	}
	t.Logf("both machines healthy %.1fs after the start", time.Since(start).Seconds())

	a, b := vms[0], vms[1]
	if got := b.Run("ip -4 -o addr show eth1", time.Minute); !strings.Contains(got, "inet 10.77.0.2/24") {
		t.Errorf("node-b eth1: %q", got)
	}
	// busybox-static's wget crashes in this image (static glibc): plain
	// HTTP over nc instead.
	get := func(addr string) string {
		return "busybox printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 10 " + addr + " 8080 | busybox tail -n 1"
	}
	if got := a.Run(get("10.77.0.2"), 2*time.Minute); got != "hello from imgbuild minimal" {
		t.Errorf("node-a fetching node-b's page over the segment: %q", got)
	}
	if got := b.Run("busybox ping -c 2 -W 5 10.77.0.1 | busybox grep -o '2 packets received'", 2*time.Minute); got != "2 packets received" {
		t.Errorf("node-b pinging node-a: %q", got)
	}
	// Nobody has 10.77.0.9: the fetch fails (the test can fail).
	if got := a.Run("busybox nc -w 3 10.77.0.9 8080 </dev/null 2>&1; echo rc=$?", 2*time.Minute); !strings.HasSuffix(got, "rc=1") || strings.Contains(got, "hello") {
		t.Errorf("a fetch from an address nobody has: %q", got)
	}
	learned := seg.Learned()
	for i := range vms {
		if learned[qemu.SegmentMAC(i).String()] == "" {
			t.Errorf("the switch never saw machine %d's MAC: %v", i, learned)
		}
	}
	if got := a.Run("busybox grep nameserver /etc/resolv.conf", time.Minute); got != "nameserver 10.77.0.53" {
		t.Errorf("resolv.conf from DNS=: %q", got)
	}
	// The first NIC still has its lease and the host's forward.
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.Contains(got, "hello from imgbuild minimal") {
		t.Errorf("through the host forward: %q", got)
	}
	t.Logf("cluster test %.1fs", time.Since(start).Seconds())
}

// TestNetworkFileRefused: a config whose .network file has a misspelt
// key is refused by config validate with the file, line and key; booted
// anyway, the machine prints the banner naming them, applies none of
// the files and keeps DHCP (and the port forward) on its first NIC.
func TestNetworkFileRefused(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	cfgFile := networkConfig(t, "node-bad", segmentNetwork(0, "Adress"))
	problem := segmentFile + ":6: [Network] Adress=: unknown key (did you mean Address?)"
	code, out := imgbuildOut(t, "config", "validate", cfgFile)
	if code != 1 || !strings.Contains(out, "INVALID "+cfgFile+": $.storage.files.1.contents.source: "+problem) {
		t.Fatalf("config validate: exit %d\n%s", code, out)
	}

	port := freePort(t)
	cfg := machineVM(diskCopy(t, res), filepath.Join(t.TempDir(), "vars.fd"), cfgFile)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 8080}}
	start := time.Now()
	vms, _ := vmtest.StartCluster(t, []qemu.Config{cfg})
	v := vms[0]
	i, _ := v.Expect(0, regexp.QuoteMeta(contract.NetworkRefusedLine+" ("+contract.NetworkDir+")"), 4*time.Minute)
	v.Expect(i, regexp.QuoteMeta(contract.SysinitMarker+"  "+problem), 10*time.Second)
	v.Expect(i, `none of the .network files was applied; eth0 \(the first NIC\) runs DHCP`, 10*time.Second)
	v.Expect(i, `imgbuild-sysinit: network eth0 10\.0\.2\.15/24`, time.Minute)
	v.Expect(i, `imgbuild-sysinit: healthy`, 2*time.Minute)
	if got := v.Run("ip -4 -o addr show eth1 | busybox wc -l", time.Minute); got != "0" {
		t.Errorf("eth1 has an IPv4 address from a refused file: %q", got)
	}
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.Contains(got, "hello from imgbuild minimal") {
		t.Errorf("through the host forward: %q", got)
	}
	t.Logf("refused-file test %.1fs", time.Since(start).Seconds())
}

// hostGet fetches url from this machine (a port forward into a guest),
// trying a few times while the guest's service comes up.
func hostGet(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	var last error
	for range 5 {
		resp, err := client.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %s, %v", resp.Status, rerr)
		}
		last = err
		time.Sleep(time.Second)
	}
	t.Errorf("GET %s: %v", url, last)
	return ""
}
