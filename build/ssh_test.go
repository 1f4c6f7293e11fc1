package build

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/manifest"
)

func TestSSHInUSR(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3gGYl1mCtdsOJ8912RKTuT+9LuMSDzZIFOzQD8Wv4U test@host"
	m, err := manifest.Parse("m.yaml", []byte("name: m\nversion: 1.0.0\nkernel: {package: k}\nssh:\n  port: 2222\n  authorized_keys: {root: [\""+key+"\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range []string{"sysinit", "sshd", "agent"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o755)
	}
	es, err := usrEntries(m, usrInput{sysinit: filepath.Join(dir, "sysinit"), sshd: filepath.Join(dir, "sshd"), agent: filepath.Join(dir, "agent")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		if e.Open != nil {
			rc, _ := e.Open()
			b, _ := io.ReadAll(rc)
			got[e.Path] = string(b)
		}
	}
	if got["lib/imgbuild/sshd"] != "sshd" || got["lib/imgbuild/ssh/authorized_keys/root"] != key+"\n" {
		t.Errorf("USR entries: %q", got)
	}
	c := runtimeConfig(m, nil)
	if n := len(c.Services); n != 1 {
		t.Fatalf("%d services", n)
	}
	s := c.Services[0]
	if s.Name != "sshd" || s.Command != SSHDPath || s.Health == nil || s.Health.TCPPort != 2222 || s.Args[1] != ":2222" || s.Restart != "always" {
		t.Errorf("sshd service %+v", s)
	}

	if s.Args[2] != "-forwarding=true" {
		t.Errorf("sshd args %q: forwarding is on by default", s.Args)
	}
	off := false
	m.SSH.Forwarding = &off
	if args := runtimeConfig(m, nil).Services[0].Args; args[2] != "-forwarding=false" {
		t.Errorf("sshd args %q with ssh.forwarding false", args)
	}

	m.SSH = nil
	es, err = usrEntries(m, usrInput{sysinit: filepath.Join(dir, "sysinit"), agent: filepath.Join(dir, "agent")})
	if err != nil || len(es) != 6 {
		t.Errorf("without ssh: %d entries (%v), want sysinit, imgbuild-logs, imgbuild-services, the update agent, its link on PATH and the config", len(es), err)
	}
}
