package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/qemu"
)

// devKeyDir keeps the development key imgbuild run makes once and
// passes to every image it boots without --config.
func devKeyDir() string { return filepath.Join(build.DefaultCacheDir(), "dev-ssh") }

// devKey returns the development key's private key file and its public
// key in authorized_keys form, making the key on first use.
func devKey(dir string) (keyFile, authorized string, err error) {
	keyFile = filepath.Join(dir, "id_ed25519")
	data, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		data, err = makeDevKey(keyFile)
	}
	if err != nil {
		return "", "", fmt.Errorf("development ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return "", "", fmt.Errorf("development ssh key %s: %w (delete it to make a new one)", keyFile, err)
	}
	line := string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	return keyFile, strings.TrimSuffix(line, "\n") + " imgbuild-dev", nil
}

// makeDevKey writes a new ed25519 key in OpenSSH's format, with its .pub.
func makeDevKey(keyFile string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "imgbuild-dev")
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(block)
	pubLine := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(sshPub), []byte("\n"))
	pubLine = append(pubLine, " imgbuild-dev\n"...)
	if err := fsutil.WriteFile(keyFile+".pub", pubLine, 0o644); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(keyFile, data, 0o600); err != nil {
		return nil, err
	}
	return data, nil
}

// devConfig is the per-machine config (Ignition spec 3) giving root the
// development key, as coreos-assembler's cosa run does.
func devConfig(authorized string) ([]byte, error) {
	type user struct {
		Name string   `json:"name"`
		Keys []string `json:"sshAuthorizedKeys"`
	}
	cfg := map[string]any{
		"ignition": map[string]string{"version": "3.4.0"},
		"passwd":   map[string][]user{"users": {{Name: "root", Keys: []string{authorized}}}},
	}
	return json.Marshal(cfg)
}

// configUser is the first user the config gives SSH keys to: the one the
// printed ssh line logs in as.
func configUser(path string) string {
	var cfg struct {
		Passwd struct {
			Users []struct {
				Name string   `json:"name"`
				Keys []string `json:"sshAuthorizedKeys"`
			} `json:"users"`
		} `json:"passwd"`
	}
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &cfg) == nil {
		for _, u := range cfg.Passwd.Users {
			if len(u.Keys) > 0 {
				return u.Name
			}
		}
	}
	return "root"
}

// sshLogin says how to log in to a running image.
type sshLogin struct {
	port      int // on 127.0.0.1
	key, user string
}

// command is the ssh line for port.
func (l sshLogin) command(port int) string {
	line := fmt.Sprintf("ssh -p %d", port)
	if l.key != "" {
		line += " -i " + l.key
	}
	// Every image makes its own host key on its first boot: a known_hosts
	// entry for this port would be wrong after the next build.
	return line + " -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no " + l.user + "@127.0.0.1"
}

// sshSetup forwards a host port to the image's SSH server and passes the
// per-machine config: the given one, or one with the development key. It
// returns how to log in (nil when the image has no SSH server) and a
// cleanup for the temporary config.
func sshSetup(cfg *qemu.Config, settings output.RunSettings, configFile string, hostPort int) (login *sshLogin, cleanup func(), err error) {
	cleanup = func() {}
	keyFile := ""
	if configFile == "" && settings.SSHPort != 0 {
		var authorized string
		if keyFile, authorized, err = devKey(devKeyDir()); err != nil {
			return nil, cleanup, err
		}
		if configFile, err = writeDevConfig(authorized); err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.Remove(configFile) }
	}
	if keyFile != "" { // the development config made above; a given one is passed by withConfig
		cfg.FwCfg = append(cfg.FwCfg, qemu.FwCfg{Name: contract.IgnitionFwCfg, File: configFile})
	}
	if settings.SSHPort == 0 {
		return nil, cleanup, nil
	}
	if hostPort == 0 {
		if hostPort, err = qemu.FreePort(); err != nil {
			return nil, cleanup, fmt.Errorf("ssh port: %w", err)
		}
	}
	cfg.Forwards = append(cfg.Forwards, qemu.Forward{Host: hostPort, Guest: settings.SSHPort})
	return &sshLogin{port: hostPort, key: keyFile, user: configUser(configFile)}, cleanup, nil
}

// writeDevConfig writes the development config to a temporary file.
func writeDevConfig(authorized string) (string, error) {
	data, err := devConfig(authorized)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "imgbuild-dev-*.ign")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
