package qemutests

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

var healthyLine = regexp.MustCompile(`imgbuild-sysinit: healthy \(\d+ services, ([0-9.]+)s since boot\)`)

// bootTimes is one boot's time to healthy: on the guest's clock (since
// the kernel started) and on the host's (since QEMU started, firmware
// included).
type bootTimes struct {
	mode                 bootMode
	guest, host, network float64
}

type bootMode string

const (
	bootFirst    bootMode = "first, formats ROOT"
	bootSeeded   bootMode = "with the saved seed"
	bootUnseeded bootMode = "seed removed"
)

// TestBootWithoutRDRAND boots the minimal image twice (same disk and
// VARS) with QEMU's default CPU model, which has no RDRAND, and no
// virtio-rng: the second boot must come up healthy with network, not
// stall for minutes on the kernel's entropy pool (it took 127 s and
// came up without network when DHCP waited for crypto/rand). The same
// pair of boots with -cpu max is measured for comparison; only a
// generous bound is asserted, the machine is shared and noisy.
func TestBootWithoutRDRAND(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	times := map[string][]bootTimes{}
	for _, cpu := range []string{qemu.CPUPlain, qemu.CPUMax} {
		t.Run(cpu, func(t *testing.T) {
			img := diskCopy(t, res)
			vars := filepath.Join(t.TempDir(), "vars.fd")
			cfg := qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512, CPU: cpu}
			bt := []bootTimes{entropyBoot(t, cfg, bootFirst), entropyBoot(t, cfg, bootSeeded)}
			if bt[1].guest > 60 {
				t.Errorf("second boot healthy after %.1fs (guest clock), want well under 60s", bt[1].guest)
			}
			if cpu == qemu.CPUPlain {
				// A later boot that finds no seed (lost in a crash, or
				// never saved): nothing may wait for the pool either.
				b := entropyBoot(t, cfg, bootUnseeded)
				bt = append(bt, b)
				if b.guest > 60 {
					t.Errorf("boot without a seed healthy after %.1fs (guest clock), want well under 60s", b.guest)
				}
			}
			times[cpu] = bt
		})
	}
	for _, cpu := range []string{qemu.CPUPlain, qemu.CPUMax} {
		for i, b := range times[cpu] {
			t.Logf("-cpu %-6s boot %d (%s): healthy %.2fs since kernel start, %.1fs since QEMU start; network up %.1fs since QEMU start",
				cpu, i+1, b.mode, b.guest, b.host, b.network)
		}
	}
}

// entropyBoot boots cfg once, checks DHCP and the HTTP service through
// the port forward, and the random seed's handling, then powers off.
// Before a bootUnseeded boot it removes the seed and stops the VM hard,
// so that no shutdown saves a new one.
func entropyBoot(t *testing.T, cfg qemu.Config, mode bootMode) bootTimes {
	t.Helper()
	port := freePort(t)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 8080}}
	t0 := time.Now()
	v := vmtest.Start(t, cfg)
	switch mode {
	case bootFirst:
		v.Expect(0, `imgbuild-stage1: ROOT: first boot`, 3*time.Minute)
		v.Expect(0, `imgbuild-stage1: no random seed yet`, time.Minute)
	case bootSeeded:
		v.Expect(0, `imgbuild-stage1: ROOT: ext4 found`, 3*time.Minute)
		// The boot before saved a seed once its pool was ready: this one
		// credits it and its pool is ready at once, RDRAND or not.
		v.Expect(0, `imgbuild-stage1: random seed credited`, time.Minute)
	case bootUnseeded:
		v.Expect(0, `imgbuild-stage1: ROOT: ext4 found`, 3*time.Minute)
		v.Expect(0, `imgbuild-stage1: no random seed yet`, time.Minute)
	}
	_, line := v.Expect(0, healthyLine.String(), 3*time.Minute)
	bt := bootTimes{mode: mode}
	bt.host = time.Since(t0).Seconds()
	bt.guest, _ = strconv.ParseFloat(healthyLine.FindStringSubmatch(line)[1], 64)
	v.Expect(0, `imgbuild-sysinit: network eth0 10\.0\.2\.15/24`, time.Minute)
	bt.network = time.Since(t0).Seconds()
	if bt.network-bt.host > 30 {
		t.Errorf("network came up %.0fs after healthy", bt.network-bt.host)
	}
	want := `imgbuild-sysinit: entropy pool ready .*; random seed saved`
	if mode == bootSeeded {
		want = `imgbuild-sysinit: entropy pool ready at boot; random seed saved`
	}
	_, line = v.Expect(0, want, 2*time.Minute)
	t.Logf("%s: %s", mode, line)

	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatalf("HTTP service through the port forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from imgbuild minimal") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if rng := v.Run("cat /sys/class/misc/hw_random/rng_current", time.Minute); rng != "none" {
		t.Errorf("hw_random rng_current = %q: the VM has no virtio-rng, want none", rng)
	}
	if mode == bootFirst {
		v.Powerdown()
	} else {
		if got := v.Run("rm /var/lib/imgbuild/random-seed && sync && echo removed", time.Minute); got != "removed" {
			t.Fatalf("removing the seed: %q", got)
		}
		v.Kill()
	}
	if out := strings.Join(v.Console.Lines(), "\n"); strings.Contains(out, "could not get random number") || strings.Contains(out, "crypto/rand: blocked") {
		t.Errorf("something waited for the entropy pool:\n%s", vmtest.Tail(out, 3000))
	}
	return bt
}
