package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/qemu"
)

func TestDevKeyMadeOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev-ssh")
	key1, pub1, err := devKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	key2, pub2, err := devKey(dir)
	if err != nil || key1 != key2 || pub1 != pub2 {
		t.Fatalf("second call: %s %q %v; want the same key", key2, pub2, err)
	}
	if st, err := os.Stat(key1); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key mode: %v %v", st, err)
	}
	// OpenSSH reads the key and derives the same public key.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command("ssh-keygen", "-y", "-f", key1).Output()
		if err != nil || strings.Fields(string(out))[1] != strings.Fields(pub1)[1] {
			t.Errorf("ssh-keygen -y: %q %v; want %q", out, err, pub1)
		}
	}
}

func TestSSHSetup(t *testing.T) {
	t.Setenv("IMGBUILD_CACHE", t.TempDir())
	var cfg qemu.Config
	login, cleanup, err := sshSetup(&cfg, output.RunSettings{SSHPort: 22}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	line := login.command(login.port)
	if len(cfg.Forwards) != 1 || cfg.Forwards[0].Guest != 22 || cfg.Forwards[0].Host == 0 || len(cfg.FwCfg) != 1 {
		t.Fatalf("cfg %+v", cfg)
	}
	keyFile := filepath.Join(os.Getenv("IMGBUILD_CACHE"), "dev-ssh", "id_ed25519")
	if !strings.HasPrefix(line, fmt.Sprintf("ssh -p %d ", cfg.Forwards[0].Host)) || !strings.Contains(line, "-i "+keyFile) || !strings.HasSuffix(line, " root@127.0.0.1") {
		t.Errorf("line %q", line)
	}
	var ign struct {
		Ignition struct{ Version string }
		Passwd   struct {
			Users []struct {
				Name              string
				SSHAuthorizedKeys []string
			}
		}
	}
	data, err := os.ReadFile(cfg.FwCfg[0].File)
	if err != nil || json.Unmarshal(data, &ign) != nil {
		t.Fatalf("config %s: %v", data, err)
	}
	_, pub, _ := devKey(filepath.Dir(keyFile))
	if cfg.FwCfg[0].Name != "opt/com.coreos/config" || ign.Ignition.Version != "3.4.0" || len(ign.Passwd.Users) != 1 ||
		ign.Passwd.Users[0].Name != "root" || ign.Passwd.Users[0].SSHAuthorizedKeys[0] != pub {
		t.Errorf("config %s", data)
	}
	cleanup()
	if _, err := os.Stat(cfg.FwCfg[0].File); !os.IsNotExist(err) {
		t.Errorf("temporary config left: %v", err)
	}

	// A given config is passed by withConfig, not here; the ssh line
	// names its user.
	own := filepath.Join(t.TempDir(), "node.ign")
	os.WriteFile(own, []byte(`{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["k"]}]}}`), 0o644)
	cfg = qemu.Config{}
	login, _, err = sshSetup(&cfg, output.RunSettings{SSHPort: 22}, own, 2222)
	line = login.command(login.port)
	if err != nil || len(cfg.FwCfg) != 0 || cfg.Forwards[0].Host != 2222 || strings.Contains(line, " -i ") || !strings.HasSuffix(line, " core@127.0.0.1") {
		t.Errorf("with --config: %q %+v %v", line, cfg, err)
	}
	// An image without an SSH server gets no forward and no key.
	cfg = qemu.Config{}
	login, _, err = sshSetup(&cfg, output.RunSettings{}, "", 0)
	if err != nil || login != nil || len(cfg.Forwards) != 0 || len(cfg.FwCfg) != 0 {
		t.Errorf("no ssh: %q %+v %v", line, cfg, err)
	}
}
