package qemutests

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
)

// TestNetworkLater boots the minimal image with its cable out (QEMU's
// set_link from the first moment), so that the boot's DHCP goes
// unanswered and the machine becomes healthy without a network; then
// puts the cable back. sysinit's lease keeper keeps asking, gets the
// lease, and the HTTP service answers through the port forward, with no
// reboot.
func TestNetworkLater(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	img := diskCopy(t, res)
	port := freePort(t)
	v := boot(t, img, filepath.Join(t.TempDir(), "vars.fd"), 512, qemu.Forward{Host: port, Guest: 8080})
	if err := v.SetLink(false); err != nil {
		t.Fatal(err)
	}
	_, line := v.Expect(0, `imgbuild-sysinit: network: dhcp on eth0: .*continuing without network on eth0`, 3*time.Minute)
	t.Logf("cable out: %s", line)
	v.ExpectHealthy(3 * time.Minute)
	client := http.Client{Timeout: 3 * time.Second}
	if resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the HTTP service answered with the cable out (%s)", resp.Status)
	}
	if err := v.SetLink(true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	_, line = v.Expect(0, `imgbuild-sysinit: network eth0 10\.0\.2\.15/24.* \(DHCP answered after [0-9]+ more tries\)`, 3*time.Minute)
	t.Logf("cable back: %s, %.1fs later", line, time.Since(back).Seconds())
	if body := get(t, port, "/"); !strings.Contains(body, "hello from imgbuild minimal") {
		t.Fatalf("GET / after the lease = %q", body)
	}
	// The lease's lifetime is on the address: the kernel drops it if
	// the keeper cannot renew (slirp leases for a day).
	if got := v.Run("ip -4 addr show eth0", time.Minute); !strings.Contains(got, "valid_lft 86") {
		t.Errorf("eth0's address: %q; want the lease's lifetime on it", got)
	}
	v.Powerdown()
}
