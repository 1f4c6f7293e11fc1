package manifest

import (
	"strings"
	"testing"
)

// testKey is a real ed25519 public key (from ssh-keygen).
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3gGYl1mCtdsOJ8912RKTuT+9LuMSDzZIFOzQD8Wv4U test@host"

const sshManifest = `name: demo
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
files:
  - path: /etc/passwd
    content: |
      root:x:0:0:root:/root:/usr/bin/sh
      www:x:33:33:www:/var/www:/usr/bin/sh
ssh:
  authorized_keys:
    root:
      - KEY
`

func TestSSHSection(t *testing.T) {
	m, err := Parse("demo.yaml", []byte(strings.Replace(sshManifest, "KEY", testKey, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if m.SSH.Port != 22 || len(m.SSH.AuthorizedKeys["root"]) != 1 {
		t.Errorf("ssh = %+v", m.SSH)
	}
	if u := m.SSHUsers(); len(u) != 1 || u[0] != "root" {
		t.Errorf("users %v", u)
	}
	m, err = Parse("demo.yaml", []byte(good))
	if err != nil || m.SSH != nil {
		t.Errorf("no ssh section: %+v, %v", m.SSH, err)
	}
}

func TestSSHErrors(t *testing.T) {
	withKey := strings.Replace(sshManifest, "KEY", testKey, 1)
	for _, tc := range []struct{ name, manifest, want string }{
		{"bad key", strings.Replace(sshManifest, "KEY", "ssh-ed25519 AAAAnotbase64!", 1),
			"demo.yaml:13:9: ssh.authorized_keys.root[0]: not a public key"},
		{"truncated key", strings.Replace(sshManifest, "KEY", testKey[:60], 1),
			"demo.yaml:13:9: ssh.authorized_keys.root[0]: not a public key"},
		{"options", strings.Replace(sshManifest, "KEY", `'from="10.0.0.1" `+testKey+`'`, 1),
			"demo.yaml:13:9: ssh.authorized_keys.root[0]: key options (from=\"10.0.0.1\") are not supported"},
		{"two keys", strings.Replace(sshManifest, "KEY", `"`+testKey+`\n`+testKey+`"`, 1),
			"demo.yaml:13:9: ssh.authorized_keys.root[0]: one key per entry"},
		{"unknown user", strings.Replace(withKey, "    root:\n", "    bob:\n", 1),
			"demo.yaml:12:5: ssh.authorized_keys: user bob is not in the image's /etc/passwd"},
		{"bad user", strings.Replace(withKey, "    root:\n", "    ../etc:\n", 1),
			`demo.yaml:12:5: ssh.authorized_keys: user name "../etc"`},
		{"bad port", strings.Replace(withKey, "ssh:\n", "ssh:\n  port: 70000\n", 1),
			"demo.yaml:11:3: ssh.port 70000 is not a port"},
		{"service name taken", withKey + "services:\n  - name: sshd\n    command: /usr/bin/sh\n",
			"demo.yaml:15:5: service name sshd is taken"},
		{"keys not a list", strings.Replace(withKey, "    root:\n      - "+testKey, "    root: "+testKey, 1),
			"demo.yaml:12:11: ssh.authorized_keys.root: want a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("demo.yaml", []byte(tc.manifest))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s...", err, tc.want)
			}
		})
	}
}
