package manifest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// SSHService is the name the SSH server runs under, as a service.
const SSHService = "sshd"

var userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func (m *Manifest) validateSSH() error {
	if m.SSH == nil {
		return nil
	}
	if p := m.SSH.Port; p < 0 || p > 65535 {
		return m.at("ssh.port", "ssh.port %d is not a port", p)
	}
	for i, s := range m.Services {
		if s.Name == SSHService {
			return m.at(fmt.Sprintf("services[%d].name", i), "service name %s is taken by the ssh section's server", SSHService)
		}
	}
	users := passwdUsers(m)
	for _, u := range m.SSHUsers() {
		f := "ssh.authorized_keys." + u
		if !userRE.MatchString(u) {
			return m.at(f, "ssh.authorized_keys: user name %q: want a name such as root", u)
		}
		if users != nil && !users[u] {
			return m.at(f, "ssh.authorized_keys: user %s is not in the image's /etc/passwd", u)
		}
		for i, k := range m.SSH.AuthorizedKeys[u] {
			if err := checkAuthorizedKey(k); err != nil {
				return m.at(fmt.Sprintf("%s[%d]", f, i), "%s[%d]: %v", f, i, err)
			}
		}
	}
	return nil
}

// checkAuthorizedKey accepts one public key line without options: the
// image's sshd ignores keys with options rather than half-honour them.
func checkAuthorizedKey(line string) error {
	if strings.ContainsAny(line, "\n\r") {
		return fmt.Errorf("one key per entry, on one line")
	}
	_, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return fmt.Errorf("not a public key in authorized_keys format (type, base64 key, comment): %v", err)
	case len(options) > 0:
		return fmt.Errorf("key options (%s) are not supported", strings.Join(options, ","))
	case len(strings.TrimSpace(string(rest))) > 0:
		return fmt.Errorf("one key per entry")
	}
	return nil
}

// passwdUsers lists the users of the /etc/passwd the manifest writes
// inline, or nil when it gives none that way (nothing to check against).
func passwdUsers(m *Manifest) map[string]bool {
	for _, f := range m.Files {
		if f.Path != "/etc/passwd" || f.Content == "" {
			continue
		}
		users := map[string]bool{}
		for _, line := range strings.Split(f.Content, "\n") {
			if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(name, "#") {
				users[name] = true
			}
		}
		return users
	}
	return nil
}

// SSHUsers lists the users with keys in the ssh section, sorted.
func (m *Manifest) SSHUsers() []string {
	if m.SSH == nil {
		return nil
	}
	users := make([]string, 0, len(m.SSH.AuthorizedKeys))
	for u := range m.SSH.AuthorizedKeys {
		users = append(users, u)
	}
	sort.Strings(users)
	return users
}
