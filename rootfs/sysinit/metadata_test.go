package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/imds"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb5yKb6r5xN9a3K1mJ0d1XQq2wHq6cZJw0Gm8fX0abc imds"

// imdsServer is an IMDSv2 service (token required) answering items.
func imdsServer(t *testing.T, items map[string]string, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case status != 0:
			http.Error(w, "nope", status)
		case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
			w.Write([]byte("tok"))
		case r.Header.Get("X-aws-ec2-metadata-token") != "tok":
			http.Error(w, "no token", http.StatusUnauthorized)
		case items[r.URL.Path] != "":
			w.Write([]byte(items[r.URL.Path]))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func metadataItems(userData string) map[string]string {
	return map[string]string{
		"/latest/meta-data/hostname":                  "ip-10-0-2-15.ec2.internal",
		"/latest/meta-data/public-keys/":              "0=test",
		"/latest/meta-data/public-keys/0/openssh-key": testKey,
		"/latest/user-data":                           userData,
	}
}

// bootWithMetadata runs what sysinit's machineConfig does on an aws
// image, on root, against the service at base; it returns the console.
func bootWithMetadata(t *testing.T, root, base string) string {
	t.Helper()
	var con bytes.Buffer
	s := &sysinit{con: supervise.NewConsole(&con)}
	net := &netState{done: make(chan struct{}), up: true}
	close(net.done)
	md := &instanceMetadata{s: s, net: net, root: root,
		client: imds.Client{Base: base, Backoff: time.Millisecond, Timeout: time.Second}}
	out, err := ignition.Boot(t.Context(), ignition.BootOptions{Root: root, Sources: []ignition.Source{*md.userData()}, Network: net.client})
	if err != nil {
		t.Fatalf("config refused: %v\n%s", err, con.String())
	}
	switch {
	case out.Earlier:
		s.logf("per-machine config sha256:%.12s was applied on an earlier boot; not applied again", out.SHA256)
	case out.None:
		s.logf("no per-machine config")
	default:
		s.logf("per-machine config from %s applied", out.Source)
	}
	md.apply(t.Context())
	return con.String()
}

func machineRoot(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	return root
}

func TestMetadataFirstBootThenNot(t *testing.T) {
	userData := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/imds-test","contents":{"source":"data:,from%20user-data"}}]}}`
	base := imdsServer(t, metadataItems(userData), 0)
	root := machineRoot(t)
	con := bootWithMetadata(t, root, base)
	for _, want := range []string{
		fmt.Sprintf(`instance metadata: hostname "ip-10-0-2-15.ec2.internal", 1 SSH keys, %d bytes of user-data`, len(userData)),
		"per-machine config from EC2 instance metadata user-data applied",
		"instance metadata applied: 1 new SSH keys for root, hostname ip-10-0-2-15.ec2.internal",
	} {
		if !strings.Contains(con, want) {
			t.Errorf("console lacks %q:\n%s", want, con)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/imds-test")); string(b) != "from user-data" {
		t.Errorf("/etc/imds-test = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, contract.SSHKeysMachine, "root")); string(b) != testKey+"\n" {
		t.Errorf("keys = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "ip-10-0-2-15.ec2.internal\n" {
		t.Errorf("hostname = %q", b)
	}

	os.Remove(filepath.Join(root, "etc/imds-test"))
	con = bootWithMetadata(t, root, base)
	for _, want := range []string{"was applied on an earlier boot; not applied again", "instance metadata (hostname, SSH keys) was applied on an earlier boot; not read again"} {
		if !strings.Contains(con, want) {
			t.Errorf("second boot: console lacks %q:\n%s", want, con)
		}
	}
	if strings.Contains(con, "instance metadata:") {
		t.Errorf("second boot read the metadata:\n%s", con)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/imds-test")); err == nil {
		t.Error("second boot applied the user-data again")
	}
}

// The service down or answering garbage: one line, nothing applied, and
// the boot goes on (no error from the config code path).
func TestMetadataFailuresDoNotStopTheBoot(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	l.Close()
	for name, tc := range map[string]struct {
		base, want string
	}{
		"down":        {down, "instance metadata unavailable: imds: 5 tries over"},
		"500":         {imdsServer(t, nil, 500), "instance metadata unavailable: imds: 5 tries over"},
		"PUT refused": {imdsServer(t, nil, 403), "instance metadata unavailable: imds: PUT " + "URL/latest/api/token: 403 Forbidden; booting without it"},
		"not JSON":    {imdsServer(t, metadataItems("#!/bin/bash\necho hi\n"), 0), `user-data is not an Ignition config (not a JSON object: invalid character '#'`},
		"empty token": {emptyServer(t), "instance metadata unavailable: imds: PUT " + "URL/latest/api/token: answered no usable token; booting without it"},
	} {
		t.Run(name, func(t *testing.T) {
			root := machineRoot(t)
			con := bootWithMetadata(t, root, tc.base)
			want := strings.ReplaceAll(tc.want, "URL", tc.base)
			if !strings.Contains(con, want) || !strings.Contains(con, "no per-machine config") {
				t.Errorf("console lacks %q:\n%s", want, con)
			}
			if n := strings.Count(con, want); n != 1 {
				t.Errorf("failure said %d times:\n%s", n, con)
			}
			if name != "not JSON" && strings.Contains(con, "instance metadata applied") {
				t.Errorf("applied metadata it could not read:\n%s", con)
			}
			if _, err := os.Stat(filepath.Join(root, contract.IgnitionApplied)); err == nil {
				t.Error("config marker written")
			}
		})
	}
}

func emptyServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv.URL
}
