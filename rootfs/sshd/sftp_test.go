package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// TestMain lets the test binary be a session's SFTP server, as the real
// binary is when sshd starts it again for one.
func TestMain(m *testing.M) {
	if sftpChild() {
		return
	}
	os.Exit(m.Run())
}

func loggedIn(t *testing.T, ts *testServer) *ssh.Client {
	t.Helper()
	key, line := newKey(t)
	addKey(t, ts.usrDir, "tester", line)
	c, err := ts.dial("tester", ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSFTP writes, lists, reads and renames through pkg/sftp's client:
// relative paths start in the user's home, as OpenSSH's sftp-server's do.
func TestSFTP(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	c := loggedIn(t, ts)
	cl, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if wd, err := cl.Getwd(); err != nil || filepath.Base(wd) != "home" {
		t.Errorf("working directory %q, %v; want the home directory", wd, err)
	}
	data := bytes.Repeat([]byte("imgbuild "), 100000) // several SFTP packets
	f, err := cl.Create("upload")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rename("upload", "kept"); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(filepath.Dir(ts.usrDir), "home")
	if got, err := os.ReadFile(filepath.Join(home, "kept")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file on the server: %d bytes, %v; want %d", len(got), err, len(data))
	}
	r, err := cl.Open("kept")
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("read back %d bytes, %v", len(back), err)
	}
	if _, err := cl.Stat("missing"); !os.IsNotExist(err) {
		t.Errorf("stat of a missing file: %v, want not-exist", err)
	}
}

func TestUnknownSubsystemRefused(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	c := loggedIn(t, ts)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestSubsystem("netconf"); err == nil {
		t.Error("subsystem netconf accepted")
	}
	ts.waitLog(t, `subsystem "netconf" is not supported`)
}

// TestForward opens direct-tcpip channels as ssh -L does: bytes reach
// the listener on the server's side and come back, a half-close is
// passed on, and a port nothing listens on is refused.
func TestForward(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	c := loggedIn(t, ts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				in, _ := io.ReadAll(conn) // until the client's half-close
				conn.Write([]byte(strings.ToUpper(string(in))))
			}()
		}
	}()
	fc, err := c.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fc.Write([]byte("through the tunnel"))
	fc.(interface{ CloseWrite() error }).CloseWrite()
	got, err := io.ReadAll(fc)
	fc.Close()
	if err != nil || string(got) != "THROUGH THE TUNNEL" {
		t.Errorf("forwarded echo %q, %v", got, err)
	}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	if _, err := c.Dial("tcp", addr); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("forward to a closed port: %v, want a connection failure", err)
	}
}

func TestForwardingOff(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute, func(s *server) { s.forwarding = false })
	c := loggedIn(t, ts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := c.Dial("tcp", l.Addr().String()); err == nil || !strings.Contains(err.Error(), "forwarding is off") {
		t.Errorf("forward with forwarding off: %v", err)
	}
	ts.waitLog(t, "refused a port forward")
	if sess, err := c.NewSession(); err != nil {
		t.Errorf("a session after the refused forward: %v", err)
	} else {
		sess.Close()
	}
}
