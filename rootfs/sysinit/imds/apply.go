package imds

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Applied says what Apply did.
type Applied struct {
	User     string // who got the keys
	Keys     int    // keys added (not already there)
	Hostname string // written to /etc/hostname; "" when the config set one
}

// Apply writes, under root, the metadata's keys into the default user's
// contract.SSHKeysMachine file (after the keys a per-machine config put
// there), the hostname to /etc/hostname unless a config wrote one, and
// last the contract.IMDSApplied marker. Each file is written to a
// temporary name and renamed.
func Apply(root string, md *Metadata) (Applied, error) {
	var a Applied
	user, err := DefaultUser(root)
	if err != nil {
		return a, err
	}
	a.User = user
	if a.Keys, err = addKeys(filepath.Join(root, contract.SSHKeysMachine, user), md.Keys); err != nil {
		return a, err
	}
	if md.Hostname != "" {
		etc := filepath.Join(root, "etc/hostname")
		if _, err := os.Lstat(etc); os.IsNotExist(err) {
			if err := writeFile(etc, []byte(md.Hostname+"\n")); err != nil {
				return a, err
			}
			a.Hostname = md.Hostname
		} else if err != nil {
			return a, fmt.Errorf("imds: %w", err)
		}
	}
	return a, writeFile(filepath.Join(root, contract.IMDSApplied), []byte("hostname "+md.Hostname+"\nkeys "+strconv.Itoa(len(md.Keys))+"\n"))
}

// Done reports whether Apply ran to its end on an earlier boot.
func Done(root string) (bool, error) {
	_, err := os.Stat(filepath.Join(root, contract.IMDSApplied))
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("imds: %w", err)
	}
	return true, nil
}

// DefaultUser is who the instance's key pair logs in as: the first user
// of the image's /etc/passwd with a uid of 1000 or more and a login shell
// (an image's ec2-user or core), otherwise root.
func DefaultUser(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if os.IsNotExist(err) {
		return "root", nil
	}
	if err != nil {
		return "", fmt.Errorf("imds: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err == nil && uid >= 1000 && uid != 65534 && loginShell(f[6]) {
			return f[0], nil
		}
	}
	return "root", nil
}

func loginShell(sh string) bool {
	base := filepath.Base(sh)
	return sh != "" && base != "nologin" && base != "false"
}

// addKeys appends the keys a file lacks; it returns how many it added.
func addKeys(path string, keys []string) (int, error) {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return 0, fmt.Errorf("imds: %w", err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	out := old
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	n := 0
	for _, k := range keys {
		if !have[k] {
			out, have[k] = append(out, k+"\n"...), true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, writeFile(path, out)
}

// writeFile writes a root-owned, world-readable file (public keys and a
// host name are no secret) through the one atomic write.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("imds: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("imds: write %s: %w", path, err)
	}
	return nil
}
