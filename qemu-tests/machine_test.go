package qemutests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/reftool"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// machineConfig is a per-machine config giving the machine its hostname,
// root's SSH key pub, a file, a link and a setting for the httpd service;
// extra are more storage.files entries (JSON objects).
func machineConfig(t *testing.T, name, pub string, extra ...string) string {
	t.Helper()
	files := append([]string{
		fmt.Sprintf(`{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,%s%%0A"}}`, name),
		fmt.Sprintf(`{"path":"/etc/imgbuild/env/httpd.env","contents":{"source":"data:,GREETING=from-%s%%0A"}}`, name),
		fmt.Sprintf(`{"path":"/var/lib/hello","mode":384,"contents":{"source":"data:,hello%%20%s"}}`, name),
	}, extra...)
	cfg := fmt.Sprintf(`{"ignition":{"version":"3.4.0"},
 "passwd":{"users":[{"name":"root","sshAuthorizedKeys":[%q]}]},
 "storage":{"files":[%s],
  "links":[{"path":"/var/lib/hello-link","target":"/var/lib/hello"}]}}`, pub, strings.Join(files, ",\n   "))
	return writeFile(t, name+".ign", cfg)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// imgbuildOut is imgbuild with stdout and stderr together.
func imgbuildOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	code, stdout, stderr := imgbuild(t, args...)
	return code, stdout + stderr
}

// machineVM is the VM for img with config (if any) in fw_cfg, as
// imgbuild run --config passes it.
func machineVM(img, vars, config string) qemu.Config {
	cfg := qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512}
	if config != "" {
		cfg.FwCfg = []qemu.FwCfg{{Name: contract.IgnitionFwCfg, File: config}}
	}
	return cfg
}

// bootWithConfig boots disk with config (if any) in fw_cfg.
func bootWithConfig(t *testing.T, img, vars, config string) *vm {
	t.Helper()
	return vmtest.Start(t, machineVM(img, vars, config))
}

// checkMachine checks what machineConfig(name) sets, from the console.
func checkMachine(t *testing.T, v *vm, name string) {
	t.Helper()
	v.Expect(0, `imgbuild-sysinit: hostname `+name+` \(from /etc/hostname\)`, 3*time.Minute)
	v.ExpectHealthy(2 * time.Minute)
	if got := v.Run("hostname", time.Minute); got != name {
		t.Errorf("hostname = %q, want %q", got, name)
	}
	if got := v.Run("cat /var/lib/hello-link; ls -l /var/lib/hello | cut -c1-10", time.Minute); got != "hello "+name+"-rw-------" {
		t.Errorf("file from the config: %q", got)
	}
	if got := v.Run("cat "+contract.SSHKeysMachine+"/root", time.Minute); !strings.HasSuffix(got, " "+name) {
		t.Errorf("authorized keys: %q", got)
	}
	env := `for p in /proc/[0-9]*; do busybox grep -q httpd $p/cmdline 2>/dev/null && busybox tr '\0' '\n' < $p/environ | busybox grep GREETING; done`
	if got := v.Run(env, time.Minute); got != "GREETING=from-"+name {
		t.Errorf("httpd's environment from %s/httpd.env: %q", contract.ServiceEnvDir, got)
	}
}

// TestOneImageTwoMachines boots copies of one image, whose manifest
// gives no SSH key, with two configs: each machine gets its own hostname,
// files and root's key, and OpenSSH's client logs in to each with its own
// key only (the other machine's key and passwords are refused). The
// first, booted again with the other config, keeps its config and its
// host key and says it applied a config before. The second takes a file
// from an http source with the right hash, through a guestfwd.
func TestOneImageTwoMachines(t *testing.T) {
	skipShort(t)
	needOpenSSH(t)
	res := buildImage(t, "minimal")
	work := t.TempDir()
	m1, m2 := diskCopy(t, res), diskCopy(t, res)
	vars1, vars2 := filepath.Join(work, "vars1.fd"), filepath.Join(work, "vars2.fd")
	key1, pub1 := sshKeygen(t, work, "machine-one")
	key2, pub2 := sshKeygen(t, work, "machine-two")
	const motd = "fetched over http for machine-two\n"
	srv := serveFiles(t, 1, map[string]string{"/motd": motd})
	c1 := machineConfig(t, "machine-one", pub1)
	c2 := machineConfig(t, "machine-two", pub2, httpFile("/var/lib/motd", "http://"+guestFwdAddr(0)+"/motd", motd))

	port := freePort(t)
	cfg := machineVM(m1, vars1, c1)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	v := vmtest.Start(t, cfg)
	_, line := v.Expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ from fw_cfg `+contract.IgnitionFwCfg+` applied`, 3*time.Minute)
	t.Logf("%s", line)
	checkMachine(t, v, "machine-one")
	fp1 := checkSSHLogin(t, v, port, key1, key2, "machine-one", true)
	v.Powerdown()

	cfg = machineVM(m1, vars1, c2)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	v = vmtest.Start(t, cfg)
	v.Expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ was applied on an earlier boot; not applied again`, 3*time.Minute)
	checkMachine(t, v, "machine-one")
	if fp := checkSSHLogin(t, v, port, key1, key2, "machine-one", false); fp != fp1 {
		t.Errorf("machine-one's host key after a reboot: %s, was %s", fp, fp1)
	}
	v.Powerdown()

	cfg = machineVM(m2, vars2, c2)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	cfg.GuestFwds = srv.guestFwds()
	v = vmtest.Start(t, cfg)
	checkMachine(t, v, "machine-two")
	if got := v.Run("cat /var/lib/motd", time.Minute); got+"\n" != motd {
		t.Errorf("/var/lib/motd from http: %q", got)
	}
	if got := srv.requests(); strings.Join(got, " ") != "/motd" {
		t.Errorf("the test server was asked for %q, want /motd once", got)
	}
	if fp2 := checkSSHLogin(t, v, port, key2, key1, "machine-two", true); fp2 == fp1 {
		t.Errorf("both machines have host key %s", fp1)
	}
	v.Powerdown()
}

// checkSSHLogin logs in to v through the forward on port with OpenSSH's
// client: key gets in as root and hostname says host; wrong and a
// password are refused. It returns the host key's fingerprint, which the
// console printed as new (first) or as kept on ROOT and the server
// presents.
func checkSSHLogin(t *testing.T, v *vm, port int, key, wrong, host string, first bool) string {
	t.Helper()
	_, line := v.Expect(0, `\[sshd\] (new )?host key SHA256:\S+`, 4*time.Minute)
	if isNew := strings.Contains(line, "new host key"); isNew != first {
		t.Errorf("%s: %q; want a new host key: %v", host, line, first)
	}
	fp := regexp.MustCompile(`SHA256:\S+`).FindString(line)
	if out, _, err := sshRun(t, port, key, "hostname"); err != nil || out != host {
		t.Errorf("%s: ssh with its key: hostname = %q, %v", host, out, err)
	}
	if _, stderr, err := sshRun(t, port, wrong, "hostname"); exitCode(err) != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Errorf("%s: the other machine's key: %v %q", host, err, stderr)
	}
	if _, stderr, err := sshRun(t, port, key, "-o", "PreferredAuthentications=password", "-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=0", "hostname"); exitCode(err) != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Errorf("%s: password: %v %q", host, err, stderr)
	}
	if scanned := keyscan(t, port); scanned != fp {
		t.Errorf("%s: server presents %s, console printed %s", host, scanned, fp)
	}
	return fp
}

// refusedConfig is a config a machine must refuse: offline with
// validate's message, on boot with the banner's line, leaving none of
// paths on ROOT.
type refusedConfig struct {
	name, config, validate, banner string
	paths                          []string
}

// TestRefusedConfigStopsTheBoot: an unsupported field (storage.disks)
// and a bad data: URL are refused offline by imgbuild config validate and,
// on boot, by a banner naming the field; the boot stops and ROOT holds
// nothing of the config.
func TestRefusedConfigStopsTheBoot(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	for _, c := range []refusedConfig{{
		name: "storage.disks",
		config: `{"ignition":{"version":"3.4.0"},"storage":{
	  "disks":[{"device":"/dev/vdb","wipeTable":true}],
	  "files":[{"path":"/var/lib/from-bad-config","contents":{"source":"data:,x"}}]}}`,
		validate: "$.storage.disks: not supported",
		banner:   `\$\.storage\.disks: not supported by imgbuild images`,
		paths:    []string{"/var/lib/from-bad-config"},
	}, {
		name: "bad data URL",
		config: `{"ignition":{"version":"3.4.0"},"storage":{"files":[
	  {"path":"/var/lib/from-bad-data/good","contents":{"source":"data:,fine"}},
	  {"path":"/var/lib/from-bad-data/bad","contents":{"source":"data:;base64,!!!"}}]}}`,
		validate: "$.storage.files.1.contents.source: invalid data character",
		banner:   `\$\.storage\.files\.1\.contents\.source: invalid data character`,
		paths:    []string{"/var/lib/from-bad-data"},
	}} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			bad := writeFile(t, "bad.ign", c.config)
			if code, out := imgbuildOut(t, "config", "validate", bad); code != cli.ExitFailure || !strings.Contains(out, c.validate) {
				t.Fatalf("config validate: exit %d, want %d and %q\n%s", code, cli.ExitFailure, c.validate, out)
			}
			img := diskCopy(t, res)
			v := bootWithConfig(t, img, filepath.Join(t.TempDir(), "vars.fd"), bad)
			expectRefused(t, v, c.banner)
			checkNotOnRoot(t, img, append(c.paths, contract.IgnitionApplied)...)
		})
	}
}

// expectRefused waits for the refused-config banner with a line matching
// problem, then for the boot to stop without any service started.
func expectRefused(t *testing.T, v *vm, problem string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The banner is a boot failure: expect it without FailurePattern.
	i, _, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`imgbuild-sysinit: PER-MACHINE CONFIG REFUSED \(from fw_cfg`), nil)
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	_, line := v.Expect(i, `imgbuild-sysinit:   `+problem, time.Minute)
	t.Logf("%s", line)
	// A first boot is counted by systemd-boot (imgbuild-a+3.conf), so a
	// fatal error reboots it to count the try; later it powers off.
	if _, _, err := v.Console.Expect(ctx, i, regexp.MustCompile(`imgbuild-sysinit: (power off|trial boot failed: reboot)`), nil); err != nil {
		t.Fatalf("the boot did not stop: %v", err)
	}
	if strings.Contains(strings.Join(v.Console.Lines(), "\n"), "imgbuild-sysinit: healthy") {
		t.Fatal("services started after a refused config")
	}
	<-v.Done()
}

// checkNotOnRoot reads ROOT of the powered-off img with debugfs: the
// factory files are there (this is ROOT, read right), paths are not, nor
// any temporary file of a staged config.
func checkNotOnRoot(t *testing.T, img string, paths ...string) {
	t.Helper()
	root := rootPartition(t, img)
	if out := reftool.Must(t, "debugfs", "-R", "ls -l /etc", root); !strings.Contains(out, "passwd") {
		t.Fatalf("debugfs does not see ROOT's /etc/passwd:\n%s", out)
	}
	for _, p := range paths {
		if out := reftool.Must(t, "debugfs", "-R", "stat "+p, root); !strings.Contains(out, "not found") {
			t.Errorf("ROOT holds %s of the refused config:\n%s", p, out)
		}
	}
	for _, dir := range []string{"/var/lib", "/etc", contract.SSHKeysMachine} {
		if out := reftool.Must(t, "debugfs", "-R", "ls "+dir, root); strings.Contains(out, ".ignition-") {
			t.Errorf("ROOT's %s holds a staged file of the refused config:\n%s", dir, out)
		}
	}
}

// TestOEMPartitionConfig: imgbuild oem writes the config into a copy's
// OEM partition; the machine takes it from there.
func TestOEMPartitionConfig(t *testing.T) {
	skipShort(t)
	needOpenSSH(t)
	img := diskCopy(t, buildImage(t, "minimal"))
	out := filepath.Join(t.TempDir(), "machine-oem.img")
	_, pub := sshKeygen(t, t.TempDir(), "machine-oem")
	if code, o := imgbuildOut(t, "oem", img, "--config", machineConfig(t, "machine-oem", pub), "-o", out); code != cli.ExitOK {
		t.Fatalf("imgbuild oem: exit %d\n%s", code, o)
	}
	v := bootWithConfig(t, out, filepath.Join(t.TempDir(), "vars.fd"), "")
	v.Expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ from OEM partition config.ign applied`, 3*time.Minute)
	checkMachine(t, v, "machine-oem")
	v.Powerdown()
}

// rootPartition extracts ROOT (partition 9) for debugfs.
func rootPartition(t *testing.T, img string) string {
	t.Helper()
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := info.Partition(9)
	if !ok {
		t.Fatal("no ROOT partition")
	}
	return reftool.Extract(t, img, p.Start, p.Size)
}
