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
)

// machineConfig is a per-machine config giving the machine its hostname,
// a file, a link and a setting for the httpd service.
func machineConfig(t *testing.T, name string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{"ignition":{"version":"3.4.0"},
 "passwd":{"users":[{"name":"root","sshAuthorizedKeys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA %s"]}]},
 "storage":{"files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,%s%%0A"}},
   {"path":"/etc/imgbuild/env/httpd.env","contents":{"source":"data:,GREETING=from-%s%%0A"}},
   {"path":"/var/lib/hello","mode":384,"contents":{"source":"data:,hello%%20%s"}}],
  "links":[{"path":"/var/lib/hello-link","target":"/var/lib/hello"}]}}`, name, name, name, name)
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

// bootWithConfig boots disk with config (if any) in fw_cfg, as imgbuild
// run --config does.
func bootWithConfig(t *testing.T, img, vars, config string) *vm {
	t.Helper()
	cfg := qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512}
	if config != "" {
		cfg.FwCfg = []qemu.FwCfg{{Name: contract.IgnitionFwCfg, File: config}}
	}
	return start(t, cfg)
}

// checkMachine checks what machineConfig(name) sets, from the console.
func checkMachine(t *testing.T, v *vm, name string) {
	t.Helper()
	v.expect(0, `imgbuild-sysinit: hostname `+name+` \(from /etc/hostname\)`, 3*time.Minute)
	v.expect(0, `imgbuild-sysinit: healthy`, 2*time.Minute)
	if got := v.run("hostname", time.Minute); got != name {
		t.Errorf("hostname = %q, want %q", got, name)
	}
	if got := v.run("cat /var/lib/hello-link; ls -l /var/lib/hello | cut -c1-10", time.Minute); got != "hello "+name+"-rw-------" {
		t.Errorf("file from the config: %q", got)
	}
	if got := v.run("cat "+contract.SSHKeysMachine+"/root", time.Minute); !strings.HasSuffix(got, " "+name) {
		t.Errorf("authorized keys: %q", got)
	}
	env := `for p in /proc/[0-9]*; do busybox grep -q httpd $p/cmdline 2>/dev/null && busybox tr '\0' '\n' < $p/environ | busybox grep GREETING; done`
	if got := v.run(env, time.Minute); got != "GREETING=from-"+name {
		t.Errorf("httpd's environment from %s/httpd.env: %q", contract.ServiceEnvDir, got)
	}
}

// TestOneImageTwoMachines boots copies of one image with two configs:
// each gets its own hostname and files; the first, booted again with the
// other config, keeps its own and says it applied a config before.
func TestOneImageTwoMachines(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	m1, m2 := diskCopy(t, res), diskCopy(t, res)
	vars1, vars2 := filepath.Join(t.TempDir(), "vars1.fd"), filepath.Join(t.TempDir(), "vars2.fd")
	c1, c2 := machineConfig(t, "machine-one"), machineConfig(t, "machine-two")

	v := bootWithConfig(t, m1, vars1, c1)
	_, line := v.expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ from fw_cfg `+contract.IgnitionFwCfg+` applied`, 3*time.Minute)
	t.Logf("%s", line)
	checkMachine(t, v, "machine-one")
	v.powerdown()

	v = bootWithConfig(t, m1, vars1, c2)
	v.expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ was applied on an earlier boot; not applied again`, 3*time.Minute)
	checkMachine(t, v, "machine-one")
	v.powerdown()

	v = bootWithConfig(t, m2, vars2, c2)
	checkMachine(t, v, "machine-two")
	v.powerdown()
}

// TestRefusedConfigStopsTheBoot: storage.disks is refused offline by
// imgbuild config validate and, on boot, by a banner naming it; the boot
// stops and ROOT holds nothing of the config.
func TestRefusedConfigStopsTheBoot(t *testing.T) {
	skipShort(t)
	bad := writeFile(t, "bad.ign", `{"ignition":{"version":"3.4.0"},"storage":{
	  "disks":[{"device":"/dev/vdb","wipeTable":true}],
	  "files":[{"path":"/var/lib/from-bad-config","contents":{"source":"data:,x"}}]}}`)
	if code, out := imgbuildOut(t, "config", "validate", bad); code != cli.ExitFailure || !strings.Contains(out, "$.storage.disks: not supported") {
		t.Fatalf("config validate: exit %d\n%s", code, out)
	}
	img := diskCopy(t, buildImage(t, "minimal"))
	v := bootWithConfig(t, img, filepath.Join(t.TempDir(), "vars.fd"), bad)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, _, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`imgbuild-sysinit: PER-MACHINE CONFIG REFUSED \(from fw_cfg`), nil); err != nil {
		t.Fatalf("no banner: %v", err)
	}
	v.expect(0, `imgbuild-sysinit:   \$\.storage\.disks: not supported by imgbuild images`, time.Minute)
	if _, _, err := v.Console.Expect(ctx, 0, regexp.MustCompile(`imgbuild-sysinit: power off`), nil); err != nil {
		t.Fatalf("the boot did not stop: %v", err)
	}
	if strings.Contains(strings.Join(v.Console.Lines(), "\n"), "imgbuild-sysinit: healthy") {
		t.Fatal("services started after a refused config")
	}
	<-v.Done()
	root := rootPartition(t, img)
	// The factory files are there (this is ROOT, read right); nothing of
	// the config nor the applied marker is.
	if out := reftool.Must(t, "debugfs", "-R", "ls -l /etc", root); !strings.Contains(out, "passwd") {
		t.Fatalf("debugfs does not see ROOT's /etc/passwd:\n%s", out)
	}
	for _, p := range []string{"/var/lib/from-bad-config", contract.IgnitionApplied} {
		if out := reftool.Must(t, "debugfs", "-R", "stat "+p, root); !strings.Contains(out, "not found") {
			t.Errorf("ROOT holds %s of the refused config:\n%s", p, out)
		}
	}
}

// TestOEMPartitionConfig: imgbuild oem writes the config into a copy's
// OEM partition; the machine takes it from there.
func TestOEMPartitionConfig(t *testing.T) {
	skipShort(t)
	img := diskCopy(t, buildImage(t, "minimal"))
	out := filepath.Join(t.TempDir(), "machine-oem.img")
	if code, o := imgbuildOut(t, "oem", img, "--config", machineConfig(t, "machine-oem"), "-o", out); code != cli.ExitOK {
		t.Fatalf("imgbuild oem: exit %d\n%s", code, o)
	}
	v := bootWithConfig(t, out, filepath.Join(t.TempDir(), "vars.fd"), "")
	v.expect(0, `imgbuild-sysinit: per-machine config sha256:\w+ from OEM partition config.ign applied`, 3*time.Minute)
	checkMachine(t, v, "machine-oem")
	v.powerdown()
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
