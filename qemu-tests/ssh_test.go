package qemutests

import (
	"bytes"
	"errors"
	"fmt"
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
	"github.com/imgbuild/imgbuild/qemu"
)

// TestSSH boots the minimal image with a test key in its manifest's ssh
// section and logs in with OpenSSH's client (a peer we did not write)
// through the port forward: commands run, exit statuses come back, a
// terminal works, a wrong key and passwords are refused. A second boot
// of the same disk presents the same host key.
func TestSSH(t *testing.T) {
	skipShort(t)
	needOpenSSH(t)
	work := t.TempDir()
	key, pub := sshKeygen(t, work, "id_test")
	wrong, _ := sshKeygen(t, work, "id_wrong")
	res := buildWithSSH(t, work, pub)
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
	v.Powerdown()
}

// needOpenSSH fails the test without OpenSSH's client tools, the peer
// the SSH tests log in with.
func needOpenSSH(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "ssh-keygen", "ssh-keyscan"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs openssh-client): %v", tool, err)
		}
	}
}

// buildWithSSH builds manifests/minimal.yaml with pub as root's key.
func buildWithSSH(t *testing.T, work, pub string) *output.Result {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "manifests", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("\nssh: {}\n")) {
		t.Fatal("manifests/minimal.yaml no longer has ssh: {}; update this test")
	}
	src = bytes.Replace(src, []byte("\nssh: {}\n"), []byte(fmt.Sprintf("\nssh:\n  authorized_keys:\n    root: [%q]\n", pub)), 1)
	mf := filepath.Join(work, "minimal.yaml")
	if err := os.WriteFile(mf, src, 0o644); err != nil {
		t.Fatal(err)
	}
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
	argv := []string{"-F", "/dev/null", "-p", strconv.Itoa(port), "-i", key, "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=30", "-o", "LogLevel=ERROR"}
	argv = append(argv, args[:len(args)-1]...)
	argv = append(argv, "root@127.0.0.1", args[len(args)-1])
	cmd := exec.CommandContext(t.Context(), "ssh", argv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	return strings.TrimSpace(o.String()), e.String(), err
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
