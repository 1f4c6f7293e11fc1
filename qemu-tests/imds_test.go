package qemutests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// AWS's own instance metadata mock, not one of ours.
const (
	aemmModule  = "github.com/aws/amazon-ec2-metadata-mock"
	aemmVersion = "v1.13.0"
)

// TestAWSInstanceMetadata boots an aws image as EC2 boots it: UEFI, the
// disk on NVMe, and IMDSv2 (token required) at 169.254.169.254 served by
// amazon-ec2-metadata-mock through user-mode networking with restrict=on
// and a guestfwd to 127.0.0.1. The machine takes its hostname, its key
// pair's SSH key and its user-data (an Ignition config) from there on the
// first boot, not again on the second, and boots healthy without them
// when the service is down.
func TestAWSInstanceMetadata(t *testing.T) {
	skipShort(t)
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs openssh-client): %v", tool, err)
		}
	}
	mock := buildAEMM(t)
	work := t.TempDir()
	key, pub := sshKeygen(t, work, "id_imds")
	const host = "ip-10-0-2-15.ec2.internal"
	userData := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/imds-test","mode":420,"contents":{"source":"data:,written%20from%20user-data"}}]}}`

	start := time.Now()
	res, err := build.Run(t.Context(), build.Options{Manifest: manifestCopy(t, "minimal", work), OutDir: filepath.Join(work, "out"), Target: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built --target aws in %.1fs", time.Since(start).Seconds())
	disk, vars := diskCopy(t, res), filepath.Join(work, "vars")

	mockPort := freePort(t)
	stop := startAEMM(t, mock, work, mockPort, host, pub, userData)
	sshPort := freePort(t)
	wall := time.Now()
	v := ec2Boot(t, disk, vars, mockPort, sshPort)
	v.Expect(0, `imgbuild-stage1: USR /dev/nvme0n1p3`, 3*time.Minute)
	_, read := v.Expect(0, regexp.QuoteMeta(`instance metadata: hostname "`+host+`", 1 SSH keys`), 3*time.Minute)
	t.Logf("%s", read)
	v.Expect(0, `per-machine config sha256:\w+ from EC2 instance metadata user-data applied`, time.Minute)
	v.Expect(0, regexp.QuoteMeta(`instance metadata applied: 1 new SSH keys for root, hostname `+host), time.Minute)
	v.Expect(0, regexp.QuoteMeta(`hostname `+host+` (from /etc/hostname)`), time.Minute)
	healthy := v.ExpectHealthy(4 * time.Minute).Line
	t.Logf("EC2-style first boot: %s; %.1fs wall from QEMU start", healthy, time.Since(wall).Seconds())

	if out, _, err := sshRun(t, sshPort, key, "hostname"); err != nil || out != host {
		t.Fatalf("hostname over ssh = %q, %v", out, err)
	}
	if out, _, err := sshRun(t, sshPort, key, "cat /etc/imds-test"); err != nil || out != "written from user-data" {
		t.Errorf("/etc/imds-test = %q, %v", out, err)
	}
	// Gone before the second boot: a second apply would bring it back.
	if _, _, err := sshRun(t, sshPort, key, "busybox rm /etc/imds-test"); err != nil {
		t.Fatal(err)
	}
	v.Powerdown()

	wall = time.Now()
	v = ec2Boot(t, disk, vars, mockPort, sshPort)
	v.Expect(0, `per-machine config sha256:\w+ was applied on an earlier boot; not applied again`, 4*time.Minute)
	v.Expect(0, `instance metadata \(hostname, SSH keys\) was applied on an earlier boot; not read again`, time.Minute)
	healthy = v.ExpectHealthy(4 * time.Minute).Line
	t.Logf("second boot: %s; %.1fs wall", healthy, time.Since(wall).Seconds())
	if out, _, err := sshRun(t, sshPort, key, "hostname; busybox ls /etc/imds-test || echo absent"); err != nil || !strings.HasPrefix(out, host+"\n") || !strings.HasSuffix(out, "absent") {
		t.Errorf("second boot: %q, %v", out, err)
	}
	v.Powerdown()

	// The service down on a machine's first boot: one line, and the
	// machine boots healthy as the image's own (nothing applied).
	stop()
	wall = time.Now()
	v = ec2Boot(t, diskCopy(t, res), filepath.Join(work, "vars2"), mockPort, sshPort)
	_, failed := v.Expect(0, `imgbuild-sysinit: instance metadata unavailable: imds: 5 tries over [0-9.]+s: .*; booting without it`, 4*time.Minute)
	t.Logf("%s", failed)
	v.Expect(0, `no per-machine config`, time.Minute)
	v.Expect(0, `hostname minimal \(from image\)`, time.Minute)
	healthy = v.ExpectHealthy(4 * time.Minute).Line
	t.Logf("metadata down: %s; %.1fs wall", healthy, time.Since(wall).Seconds())
	if n := strings.Count(strings.Join(v.Console.Lines(), "\n"), "instance metadata unavailable"); n != 1 {
		t.Errorf("the failure took %d lines", n)
	}
	v.Powerdown()
}

// ec2Boot boots disk with OVMF, on NVMe, with the metadata address
// forwarded (by a relay this binary runs) to 127.0.0.1:mockPort.
func ec2Boot(t *testing.T, disk, vars string, mockPort, sshPort int) *vm {
	t.Helper()
	fwd, err := qemu.RelayFwd(contract.IMDSAddress+":80", fmt.Sprintf("127.0.0.1:%d", mockPort))
	if err != nil {
		t.Fatal(err)
	}
	return vmtest.Start(t, qemu.Config{Disk: disk, DiskBus: "nvme", Vars: vars, MemoryMiB: 512,
		NetCIDR: "169.254.0.0/16", GuestFwds: []string{fwd}, Forwards: []qemu.Forward{{Host: sshPort, Guest: 22}}})
}

// buildAEMM builds amazon-ec2-metadata-mock from the Go module proxy
// once, kept in the build cache directory between runs.
func buildAEMM(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(build.DefaultCacheDir(), "tools", "ec2-metadata-mock-"+aemmVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp := t.TempDir()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "go", "install", aemmModule+"/cmd/ec2-metadata-mock@"+aemmVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@%s: %v\n%s", aemmModule, aemmVersion, err, out)
	}
	t.Logf("built ec2-metadata-mock %s in %.1fs", aemmVersion, time.Since(start).Seconds())
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "ec2-metadata-mock"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startAEMM runs the mock on 127.0.0.1:port with IMDSv2 required and
// the machine's hostname, key and user-data; stop ends it.
func startAEMM(t *testing.T, bin, dir string, port int, host, pub, userData string) (stop func()) {
	t.Helper()
	cfg := map[string]any{
		"imdsv2": true,
		"server": map[string]string{"hostname": "127.0.0.1", "port": fmt.Sprint(port)},
		"metadata": map[string]any{"values": map[string]string{
			"hostname": host, "local-hostname": host, "public-key": pub}},
		"userdata": map[string]any{"values": map[string]string{"userdata": base64.StdEncoding.EncodeToString([]byte(userData))}},
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "aemm.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "aemm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(func() {
		stop()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("ec2-metadata-mock:\n%s", vmtest.Tail(string(b), 3000))
		}
	})
	waitListening(t, port)
	return stop
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ec2-metadata-mock not listening on 127.0.0.1:%d", port)
}
