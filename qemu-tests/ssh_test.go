package qemutests

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/qemu"
)

// TestSSH boots the minimal image with a test key in its manifest's ssh
// section and logs in with OpenSSH's client (a peer we did not write)
// through the port forward: commands run, exit statuses come back, a
// terminal works, a wrong key and passwords are refused, scp and sftp
// copy files, ssh -L reaches a port only the machine sees. A second boot
// of the same disk presents the same host key.
func TestSSH(t *testing.T) {
	work, key, res := sshMinimal(t, "id_test")
	wrong, _ := sshKeygen(t, work, "id_wrong")
	disk, vars := diskCopy(t, res), filepath.Join(work, "vars")

	port := freePort(t)
	v := boot(t, disk, vars, 512, qemu.Forward{Host: port, Guest: 22})
	_, fpLine := v.Expect(0, `\[sshd\] new host key SHA256:\S+ \(ssh-ed25519\)`, 4*time.Minute)
	fp := regexp.MustCompile(`SHA256:\S+`).FindString(fpLine)
	v.ExpectHealthy(4 * time.Minute)
	healthy := time.Now()

	out, _, err := sshRun(t, port, key, "hostname")
	t.Logf("first login %.2fs after healthy", time.Since(healthy).Seconds())
	if err != nil || out != "minimal" {
		t.Fatalf("hostname = %q, %v", out, err)
	}
	if out, _, err := sshRun(t, port, key, "echo $((6*7)) $USER $HOME"); err != nil || out != "42 root /root" {
		t.Errorf("echo = %q, %v", out, err)
	}
	if _, _, err := sshRun(t, port, key, "exit 3"); exitCode(err) != 3 {
		t.Errorf("exit 3: %v", err)
	}
	if out, _, err := sshRun(t, port, key, "-tt", "tty; stty size"); err != nil || !strings.HasPrefix(out, "/dev/pts/") {
		t.Errorf("with a terminal: %q, %v", out, err)
	}
	if _, stderr, err := sshRun(t, port, wrong, "hostname"); exitCode(err) != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Errorf("wrong key: %v %q", err, stderr)
	}
	v.Expect(0, `\[sshd\] refused root from .*: key ssh-ed25519 SHA256:\S+ is not authorized for root`, 30*time.Second)
	if _, stderr, err := sshRun(t, port, key, "-o", "PreferredAuthentications=password", "-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=0", "hostname"); exitCode(err) != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Errorf("password: %v %q", err, stderr)
	}
	v.Expect(0, `\[sshd\] refused root from .*: offered no public key`, 30*time.Second)
	if scanned := keyscan(t, port); scanned != fp {
		t.Errorf("server presents %s, console printed %s", scanned, fp)
	}
	copyAndForward(t, work, port, key)
	v.Powerdown()

	from := 0
	v = boot(t, disk, vars, 512, qemu.Forward{Host: port, Guest: 22})
	_, line := v.Expect(from, `\[sshd\] (new )?host key SHA256:\S+`, 4*time.Minute)
	if strings.Contains(line, "new host key") || !strings.Contains(line, fp) {
		t.Errorf("second boot: %q; want the first boot's %s", line, fp)
	}
	v.ExpectHealthy(4 * time.Minute)
	if out, _, err := sshRun(t, port, key, "hostname"); err != nil || out != "minimal" {
		t.Errorf("second boot: hostname = %q, %v", out, err)
	}
	// The journal on the machine, over SSH: the first boot's lines
	// survived the reboot.
	if out, _, err := sshRun(t, port, key, "imgbuild-logs -boot -1 -service sshd"); err != nil || !strings.Contains(out, "[sshd] new host key "+fp) {
		t.Errorf("imgbuild-logs -boot -1 -service sshd: %v\n%s", err, out)
	}
	v.Powerdown()

	// And on the host, from the stopped disk: two boots, each shut down
	// cleanly (its last line made it out).
	code, out := imgbuildOut(t, "logs", "--list-boots", disk)
	if code != cli.ExitOK || strings.Count(out, " 1.0.0 ") != 2 {
		t.Errorf("imgbuild logs --list-boots: exit %d\n%s", code, out)
	}
	for _, boot := range []string{"0", "-1"} {
		if code, out := imgbuildOut(t, "logs", "--boot", boot, "--service", "sysinit", disk); code != cli.ExitOK ||
			!strings.Contains(out, "[sysinit] healthy") || !strings.Contains(out, "power off: journal closed") {
			t.Errorf("imgbuild logs --boot %s --service sysinit: exit %d\n%s", boot, code, out)
		}
	}
}

// copyAndForward copies a file up and back with OpenSSH's scp (SFTP
// since OpenSSH 9), lists it with sftp, and reaches the machine's
// httpd, which no host port forwards to, through ssh -L.
func copyAndForward(t *testing.T, work string, port int, key string) {
	t.Helper()
	opts := clientOpts(key)
	payload := make([]byte, 300<<10)
	for i := range payload {
		payload[i] = byte(i*7 + i>>9)
	}
	up, back := filepath.Join(work, "payload"), filepath.Join(work, "payload.back")
	if err := os.WriteFile(up, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	scp := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "scp", append(append([]string{"-P", strconv.Itoa(port)}, opts...), args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	scp(up, "root@127.0.0.1:/var/payload")
	if out, _, err := sshRun(t, port, key, "busybox sha256sum /var/payload"); err != nil || !strings.HasPrefix(out, fmt.Sprintf("%x ", sha256.Sum256(payload))) {
		t.Errorf("sha256sum of the uploaded file: %q, %v", out, err)
	}
	scp("root@127.0.0.1:/var/payload", back)
	if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("copied back %d bytes, %v; want the %d uploaded", len(got), err, len(payload))
	}
	batch := exec.CommandContext(t.Context(), "sftp", append(append([]string{"-P", strconv.Itoa(port), "-b", "-"}, opts...), "root@127.0.0.1")...)
	batch.Stdin = strings.NewReader("cd /var\nls -l payload\nrm payload\n")
	if out, err := batch.CombinedOutput(); err != nil || !strings.Contains(string(out), strconv.Itoa(len(payload))) {
		t.Errorf("sftp batch: %v\n%s", err, out)
	}

	local := freePort(t)
	tunnel := exec.CommandContext(t.Context(), "ssh", append(append([]string{"-p", strconv.Itoa(port), "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:8080", local)}, opts...), "root@127.0.0.1")...)
	var tunnelErr bytes.Buffer
	tunnel.Stderr = &tunnelErr
	if err := tunnel.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		tunnel.Process.Kill()
		tunnel.Wait()
	}()
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if body = httpGet(fmt.Sprintf("http://127.0.0.1:%d/", local)); body != "" {
			break
		}
	}
	if !strings.Contains(body, "hello from imgbuild minimal") {
		t.Errorf("httpd through ssh -L: %q (ssh: %s)", body, tunnelErr.String())
	}
}

// httpGet returns a 200 answer's body, or "" on any failure.
func httpGet(url string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// needOpenSSH fails the test without OpenSSH's client tools, the peer
// the SSH tests log in with.
func needOpenSSH(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "ssh-keygen", "ssh-keyscan", "scp", "sftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs openssh-client): %v", tool, err)
		}
	}
}

// sshMinimal skips in -short, checks for OpenSSH, makes a key pair named name in a new
// work directory and builds the minimal image with it as root's key.
func sshMinimal(t *testing.T, name string) (work, key string, res *output.Result) {
	t.Helper()
	skipShort(t)
	needOpenSSH(t)
	work = t.TempDir()
	key, pub := sshKeygen(t, work, name)
	return work, key, buildWithSSH(t, work, pub)
}

// buildWithSSH builds manifests/minimal.yaml with pub as root's key.
func buildWithSSH(t *testing.T, work, pub string) *output.Result {
	t.Helper()
	mf := writeMinimalWith(t, work, "\nssh: {}\n", fmt.Sprintf("\nssh:\n  authorized_keys:\n    root: [%q]\n", pub))
	start := time.Now()
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %.1fs", time.Since(start).Seconds())
	return res
}

// sshKeygen makes an ed25519 key pair with OpenSSH's ssh-keygen.
func sshKeygen(t *testing.T, dir, name string) (key, pub string) {
	t.Helper()
	key = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	data, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(data))
}

// sshRun runs OpenSSH's client as root@127.0.0.1:port with only key;
// args are more options, then the remote command.
func sshRun(t *testing.T, port int, key string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	argv := append([]string{"-p", strconv.Itoa(port)}, clientOpts(key)...)
	argv = append(argv, args[:len(args)-1]...)
	argv = append(argv, "root@127.0.0.1", args[len(args)-1])
	cmd := exec.CommandContext(t.Context(), "ssh", argv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	return strings.TrimSpace(o.String()), e.String(), err
}

// clientOpts are the options every OpenSSH client (ssh, scp, sftp) of
// these tests takes: only key, no configuration or known hosts of this
// machine, never a prompt.
func clientOpts(key string) []string {
	return []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "LogLevel=ERROR"}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// keyscan returns the fingerprint of the ed25519 host key the server
// presents, as OpenSSH computes it.
func keyscan(t *testing.T, port int) string {
	t.Helper()
	scan, err := exec.Command("ssh-keyscan", "-p", strconv.Itoa(port), "-t", "ed25519", "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan: %v", err)
	}
	cmd := exec.Command("ssh-keygen", "-l", "-f", "-")
	cmd.Stdin = bytes.NewReader(scan)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v (%q)", err, scan)
	}
	return regexp.MustCompile(`SHA256:\S+`).FindString(string(out))
}
