package qemutests

import (
	"crypto/ed25519"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/internal/reftool"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/update/server"
)

// TestAWSMetadataFaults boots an aws image against a metadata service
// that hangs on the first token request, answers the second with 2 MiB,
// gives a token on the third, and then a garbage hostname. The client's
// tries outlast the hang and the huge body, the garbage is refused by
// name in one console line, and the machine boots healthy as the
// image's own within a bound.
func TestAWSMetadataFaults(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	res, err := build.Run(t.Context(), build.Options{Manifest: manifestCopy(t, "minimal", work), OutDir: filepath.Join(work, "out"), Target: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, "", &badIMDS{})
	_, p, _ := net.SplitHostPort(srv.addr)
	port, _ := strconv.Atoi(p)
	wall := time.Now()
	v := ec2Boot(t, diskCopy(t, res), filepath.Join(work, "vars"), port, freePort(t))
	_, line := v.Expect(0, `imgbuild-sysinit: instance metadata unavailable: imds: meta-data/hostname: "<html>.*" is not a host name; booting without it`, 4*time.Minute)
	t.Log(line)
	v.Expect(0, `no per-machine config`, time.Minute)
	v.Expect(0, `hostname minimal \(from image\)`, time.Minute)
	healthy := v.ExpectHealthy(4 * time.Minute)
	t.Logf("garbage metadata: %s; %.1fs wall", healthy.Line, time.Since(wall).Seconds())
	if got, want := strings.Join(srv.requests(), ", "), "PUT /latest/api/token, PUT /latest/api/token, PUT /latest/api/token, GET /latest/meta-data/hostname"; got != want {
		t.Errorf("the service saw %q", got)
	}
	if out := v.Output(); strings.Count(out, "instance metadata unavailable") != 1 || strings.Contains(out, "instance metadata applied") {
		t.Errorf("want one failure line and nothing applied:\n%s", vmtest.Tail(out, 3000))
	}
	v.Powerdown()
}

// TestMachineClockAndNoNetwork boots one machine three times. The first
// boot loses its power (QEMU killed) as stage-1 announces ROOT's grow
// and format. The second has its clock in 2045 and a NIC nothing
// answers on (a hub port with no other port, so DHCP gets no offer);
// the third its clock in 2001 and the usual network. The second and
// third reach healthy, the second within a bound and saying its network
// step failed; the third takes SSH logins, its agent says why it does
// not check, and the journal keeps the boots in the order they ran
// although the third's clock is 44 years earlier. At the end ROOT is
// whole: e2fsck -fn from the host, and sgdisk -v of the grown GPT.
func TestMachineClockAndNoNetwork(t *testing.T) {
	work, key, res := sshMinimal(t, "id_clock")
	disk, vars := diskCopy(t, res), filepath.Join(work, "vars")

	v := vmtest.Start(t, qemu.Config{Disk: disk, Vars: vars, MemoryMiB: 512, NoNetwork: true})
	v.Expect(0, `imgbuild-stage1: ROOT: no ext4 on \S+: first boot, growing and formatting it`, 3*time.Minute)
	v.Kill()
	<-v.Done()

	wall := time.Now()
	v = vmtest.Start(t, qemu.Config{Disk: disk, Vars: vars, MemoryMiB: 512, NoNetwork: true,
		Extra: []string{"-rtc", "base=2045-06-01T12:00:00",
			"-netdev", "hubport,id=nodhcp,hubid=7", "-device", "virtio-net-pci,netdev=nodhcp"}})
	_, line := v.Expect(0, `imgbuild-stage1: ROOT: (first boot: .*|ext4 found .*)`, 3*time.Minute)
	t.Logf("after the power cut: %s", line)
	_, line = v.Expect(0, `imgbuild-sysinit: network: dhcp on eth0: no offer: .* \(up to 3 tries, waiting 2s then doubling; gave up after [0-9.]+s\); continuing without network on eth0`, 3*time.Minute)
	t.Logf("no DHCP answer: %s", line)
	healthy := v.ExpectHealthy(4 * time.Minute)
	t.Logf("clock in 2045, no network: %s; %.1fs wall", healthy.Line, time.Since(wall).Seconds())
	// The network wait is sysinit's networkWait (10 s) plus DHCP's own
	// tries; a boot that waited for a lease for ever would not get here,
	// and one that waited long would show it in its seconds since boot.
	if m := healthyLine.FindStringSubmatch(healthy.Line); m == nil {
		t.Errorf("healthy line %q", healthy.Line)
	} else if s, _ := strconv.ParseFloat(m[1], 64); s > 90 {
		t.Errorf("healthy %.1fs after boot without a network; want it bounded", s)
	}
	if got := v.Run("busybox date -u +%Y", time.Minute); got != "2045" {
		t.Errorf("the machine's year = %q, want 2045 (from -rtc)", got)
	}
	v.Powerdown()

	port := freePort(t)
	wall = time.Now()
	v = vmtest.Start(t, qemu.Config{Disk: disk, Vars: vars, MemoryMiB: 512,
		Forwards: []qemu.Forward{{Host: port, Guest: 22}}, Extra: []string{"-rtc", "base=2001-02-03T04:05:06"}})
	v.Expect(0, `imgbuild-sysinit: network eth0 `, 3*time.Minute)
	healthy = v.ExpectHealthy(4 * time.Minute)
	t.Logf("clock in 2001: %s; %.1fs wall", healthy.Line, time.Since(wall).Seconds())
	if out, _, err := sshRun(t, port, key, "busybox date -u +%Y"); err != nil || out != "2001" {
		t.Errorf("ssh login with the clock in 2001: %q, %v", out, err)
	}
	if out, _, err := sshRun(t, port, key, "imgbuild-agent status"); err != nil || !strings.Contains(out, "booted:    slot A") {
		t.Errorf("imgbuild-agent status: %v\n%s", err, out)
	} else {
		t.Logf("imgbuild-agent status:\n%s", out)
	}
	if out, _, err := sshRun(t, port, key, "imgbuild-logs -boot -1 -service sysinit"); err != nil ||
		!strings.Contains(out, "continuing without network on eth0") || !strings.Contains(out, "2045-06-01") {
		t.Errorf("imgbuild-logs -boot -1: the first boot's lines, stamped 2045: %v\n%s", err, vmtest.Tail(out, 3000))
	}
	v.Powerdown()

	// From the host: the 2045 boot first, the 2001 one after it, as
	// they ran, not as their clocks say.
	code, list := imgbuildOut(t, "logs", "--list-boots", disk)
	years := regexp.MustCompile(`(?m)^(-?\d+)\s.*?\b(2045|2001)-`).FindAllStringSubmatch(list, -1)
	var got []string
	for _, y := range years {
		got = append(got, y[1]+":"+y[2])
	}
	if want := "-1:2045 0:2001"; code != cli.ExitOK || strings.Join(got, " ") != want {
		t.Errorf("imgbuild logs --list-boots: exit %d, boots %q, want %q\n%s", code, strings.Join(got, " "), want, list)
	}
	rootWhole(t, disk)
}

// rootWhole checks, from the host, the disk's GPT (sgdisk -v) and its
// ROOT filesystem (e2fsck -fn).
func rootWhole(t *testing.T, disk string) {
	t.Helper()
	if out := reftool.Must(t, "sgdisk", "-v", disk); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	r, err := inspect.Image(disk)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Partitions {
		if p.Label == "ROOT" {
			root := reftool.Extract(t, disk, p.Start, p.Size)
			if out, err := reftool.Run(t, "e2fsck", "-fn", root); err != nil || strings.Contains(out, "?") {
				t.Errorf("e2fsck -fn ROOT: %v\n%s", err, out)
			}
			return
		}
	}
	t.Errorf("no ROOT partition in %+v", r.Partitions)
}

// TestOmahaServerFaultsOnMachine points v1's update agent at an Omaha
// server that first answers an error page, then 4 MiB: each check fails
// with a console line naming what the server did, the agent stays up,
// its status shows the error and an untouched slot B, and once the
// server answers properly the next check installs v2. (A server that
// hangs is bounded at 2 minutes an exchange: rootfs/updater's
// TestOmahaServerFaults shows that without the VM time.)
func TestOmahaServerFaultsOnMachine(t *testing.T) {
	skipShort(t)
	// The rollback test's build: no extra builds when both run.
	u := buildUpdateImages(t, updateSpec{server: omahaServer, channel: "beta", rollback: true})
	root := t.TempDir()
	u.release(t, root, "beta", u.v2)
	good, err := server.New(root, server.Options{Keys: []ed25519.PublicKey{mustPublic(t, u.key.pub)}})
	if err != nil {
		t.Fatal(err)
	}
	var mode atomic.Int32
	srv := serve(t, root, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 0:
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("<html><body>down for maintenance</body></html>"))
		case 1:
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("<response protocol=\"3.0\">" + strings.Repeat(" ", 4<<20)))
		default:
			good.ServeHTTP(w, r)
		}
	}))
	v := vmtest.Start(t, qemu.Config{Disk: diskCopy(t, u.v1), Vars: filepath.Join(t.TempDir(), "vars.fd"), MemoryMiB: 512,
		GuestFwds: []string{guestFwd(t, srv.addr)}})
	failed := `\[imgbuild-agent\] update check failed: POST ` + regexp.QuoteMeta(omahaServer) + `: `
	i, line := v.Expect(0, failed+`omaha response: expected element type <response> but have <html> \(error \d+\)`, 5*time.Minute)
	t.Log(line)
	mode.Store(1)
	i, line = v.Expect(i, failed+`answer larger than 1024 KiB; not read`, time.Minute)
	t.Log(line)
	// The agent prints the failure, then reports it to the server (which
	// answers 4 MiB again), then records it: the status catches up.
	want := "error: POST " + omahaServer + ": answer larger than 1024 KiB"
	st := v.Run("imgbuild-agent status", time.Minute)
	for end := time.Now().Add(time.Minute); !strings.Contains(st, want) && time.Now().Before(end); {
		time.Sleep(2 * time.Second)
		st = v.Run("imgbuild-agent status", time.Minute)
	}
	if !strings.Contains(st, want) || !strings.Contains(st, "other: slot B, empty") || strings.Contains(st, "2.0.0") {
		t.Errorf("status after the faults: %s", st)
	}
	mode.Store(2)
	v.Expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
	v.Kill()
	<-v.Done()
}

// badIMDS is the faulty metadata service: its first token request
// hangs, its second gets 2 MiB, later ones a token; the hostname is an
// error page.
type badIMDS struct {
	mu     sync.Mutex
	tokens int
}

func (f *badIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read first: net/http notices the client hanging up (and ends r's
	// context) only once the body is read.
	io.Copy(io.Discard, r.Body)
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.mu.Unlock()
		switch n {
		case 1:
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		case 2:
			w.Write([]byte(strings.Repeat("A", 2<<20)))
		default:
			w.Write([]byte("token-after-faults"))
		}
	case r.URL.Path == "/latest/meta-data/hostname":
		w.Write([]byte("<html><body>Service Unavailable</body></html>"))
	default:
		http.NotFound(w, r)
	}
}
