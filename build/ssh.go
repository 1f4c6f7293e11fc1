package build

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/squashfs"
	"github.com/imgbuild/imgbuild/manifest"
)

// SSHDPath is where the SSH server lives on USR.
const SSHDPath = "/usr/lib/imgbuild/sshd"

// sshEntries are the SSH server and the manifest's authorized_keys files
// (one per user), when the manifest has an ssh section.
func sshEntries(m *manifest.Manifest, sshd string) ([]squashfs.Entry, error) {
	if m.SSH == nil {
		return nil, nil
	}
	bin, err := hostFile(strings.TrimPrefix(SSHDPath, "/usr/"), sshd, 0o755, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("sshd: %w", err)
	}
	es := []squashfs.Entry{bin}
	dir := strings.TrimPrefix(contract.SSHKeysUSR, "/usr/")
	for _, u := range m.SSHUsers() {
		keys := strings.Join(m.SSH.AuthorizedKeys[u], "\n") + "\n"
		es = append(es, bytesEntry(path.Join(dir, u), []byte(keys), 0o644, 0, 0))
	}
	return es, nil
}

// sshService runs the SSH server like any manifest service: restarted
// when it exits, healthy once its port accepts connections.
func sshService(m *manifest.Manifest) (contract.Service, bool) {
	if m.SSH == nil {
		return contract.Service{}, false
	}
	return contract.Service{
		Name: manifest.SSHService, Command: SSHDPath, Args: []string{"-addr", ":" + strconv.Itoa(m.SSH.Port), "-forwarding=" + strconv.FormatBool(m.SSH.ForwardingOn())},
		Restart: "always", BackoffMS: time.Second.Milliseconds(), MaxBackoffMS: (30 * time.Second).Milliseconds(),
		Health: &contract.Health{TCPPort: m.SSH.Port, IntervalMS: time.Second.Milliseconds(), TimeoutMS: (2 * time.Second).Milliseconds()},
	}, true
}
