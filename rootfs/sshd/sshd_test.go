package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testServer runs a server on 127.0.0.1 for the user running the test.
type testServer struct {
	addr     string
	user     string
	usrDir   string
	mchDir   string
	mu       sync.Mutex
	log      []string
	hostKey  ssh.PublicKey
	listener net.Listener
}

func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, string(ssh.MarshalAuthorizedKey(s.PublicKey()))
}

func startServer(t *testing.T, authTimeout, idleTimeout time.Duration, opts ...func(*server)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{user: "tester", usrDir: filepath.Join(dir, "usr"), mchDir: filepath.Join(dir, "machine")}
	home := filepath.Join(dir, "home")
	for _, d := range []string{ts.usrDir, ts.mchDir, home} {
		os.MkdirAll(d, 0o755)
	}
	passwd := fmt.Sprintf("tester:x:%d:%d::%s:/bin/sh\nnokeys:x:%d:%d::/:/bin/sh\n", os.Getuid(), os.Getgid(), home, os.Getuid(), os.Getgid())
	os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644)
	hk, _, err := loadHostKey(filepath.Join(dir, "host_key"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ts.hostKey = hk.PublicKey()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr, ts.listener = l.Addr().String(), l
	s := &server{hostKey: hk, keyDirs: []string{ts.usrDir, ts.mchDir}, passwd: filepath.Join(dir, "passwd"),
		group: filepath.Join(dir, "group"), authTimeout: authTimeout, idleTimeout: idleTimeout,
		logf: func(f string, a ...any) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.log = append(ts.log, fmt.Sprintf(f, a...))
		}, forwarding: true, self: os.Args[0]}
	for _, o := range opts {
		o(s)
	}
	go s.serve(l)
	t.Cleanup(func() { l.Close() })
	return ts
}

// waitLog waits for a log line containing all of parts.
func (ts *testServer) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ts.mu.Lock()
		for _, l := range ts.log {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				ts.mu.Unlock()
				return l
			}
		}
		ts.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t.Fatalf("no log line with %q in:\n%s", parts, strings.Join(ts.log, "\n"))
	return ""
}

func (ts *testServer) dial(user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: user, Auth: auth,
		HostKeyCallback: ssh.FixedHostKey(ts.hostKey), Timeout: 5 * time.Second})
}

func addKey(t *testing.T, dir, user, line string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, user), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line)
}

func TestExecExitStatusAndEnv(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	key, line := newKey(t)
	addKey(t, ts.usrDir, "tester", "# the manifest's keys\n\n"+line)
	c, err := ts.dial("tester", ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts.waitLog(t, "accepted tester", ssh.FingerprintSHA256(key.PublicKey()))

	sess, _ := c.NewSession()
	if err := sess.Setenv("GREETING", "hello"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errOut
	err = sess.Run(`echo "$GREETING $USER $((6*7))"; echo oops >&2; exit 3`)
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("exit: %v, want status 3", err)
	}
	if out.String() != "hello tester 42\n" || errOut.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}

	sess, _ = c.NewSession()
	sess.Stdin = strings.NewReader("from stdin\n")
	got, err := sess.Output("cat; pwd")
	if err != nil || !strings.HasPrefix(string(got), "from stdin\n") || !strings.HasSuffix(string(got), "/home\n") {
		t.Errorf("cat; pwd = %q, %v", got, err)
	}
}

func TestMachineKeyAccepted(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	_, usrLine := newKey(t)
	key, line := newKey(t)
	addKey(t, ts.usrDir, "tester", usrLine)
	addKey(t, ts.mchDir, "tester", line)
	c, err := ts.dial("tester", ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestRefusals(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	good, line := newKey(t)
	addKey(t, ts.usrDir, "tester", line)
	// A key behind options must not let its holder in without them.
	restricted, rline := newKey(t)
	addKey(t, ts.mchDir, "tester", `from="10.9.9.9" `+rline)
	other, _ := newKey(t)

	for _, tc := range []struct {
		name string
		user string
		auth ssh.AuthMethod
		log  []string
	}{
		{"unknown key", "tester", ssh.PublicKeys(other), []string{"refused tester", ssh.FingerprintSHA256(other.PublicKey()), "not authorized"}},
		{"key with options", "tester", ssh.PublicKeys(restricted), []string{"refused tester", ssh.FingerprintSHA256(restricted.PublicKey())}},
		{"password", "tester", ssh.Password("secret"), []string{"refused tester", "offered no public key", "no passwords"}},
		{"keyboard-interactive", "tester", ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil }), []string{"refused tester", "offered no public key"}},
		{"user without keys", "nokeys", ssh.PublicKeys(good), []string{"refused nokeys", "no authorized keys for nokeys"}},
		{"no such user", "mallory", ssh.PublicKeys(good), []string{"refused mallory", "no such user"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ts.dial(tc.user, tc.auth)
			if err == nil {
				c.Close()
				t.Fatal("logged in")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error %v", err)
			}
			ts.waitLog(t, tc.log...)
		})
	}
	ts.waitLog(t, "skipped", "key options")
	// Only publickey is offered: the refusal lists no other method.
	_, err := ts.dial("tester", ssh.Password("x"))
	if err == nil || !strings.Contains(err.Error(), "no supported methods remain") {
		t.Errorf("password: %v", err)
	}
}

func TestPTYShellAndWindowChange(t *testing.T) {
	ts := startServer(t, 5*time.Second, time.Minute)
	key, line := newKey(t)
	addKey(t, ts.usrDir, "tester", line)
	c, err := ts.dial("tester", ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	out := &syncBuffer{}
	sess.Stdout = out
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "tty; echo \"size $(stty size) term $TERM\"\n")
	out.waitFor(t, "size 24 80 term xterm")
	out.waitFor(t, "/dev/pts/")
	if err := sess.WindowChange(50, 132); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	io.WriteString(stdin, "echo \"size $(stty size)\"; exit 5\n")
	out.waitFor(t, "size 50 132")
	var ee *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 5 {
		t.Fatalf("shell exit: %v, want 5", err)
	}
}

func TestAuthTimeout(t *testing.T) {
	ts := startServer(t, 300*time.Millisecond, time.Minute)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	// The server sends its version line, then hangs up on a silent client.
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, 5*time.Second, 500*time.Millisecond)
	key, line := newKey(t)
	addKey(t, ts.usrDir, "tester", line)
	c, err := ts.dial("tester", ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection still open")
	}
	ts.waitLog(t, "idle for")
}

func TestHostKeyKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh", "ssh_host_ed25519_key")
	k1, gen1, err := loadHostKey(path, t.Logf)
	if err != nil || !gen1 {
		t.Fatalf("first: generated=%v err=%v", gen1, err)
	}
	k2, gen2, err := loadHostKey(path, t.Logf)
	if err != nil || gen2 {
		t.Fatalf("second: generated=%v err=%v", gen2, err)
	}
	if ssh.FingerprintSHA256(k1.PublicKey()) != ssh.FingerprintSHA256(k2.PublicKey()) || k1.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key changed or not ed25519: %s %s", ssh.FingerprintSHA256(k1.PublicKey()), ssh.FingerprintSHA256(k2.PublicKey()))
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := loadHostKey(path, t.Logf); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt key: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := s.b.String()
		s.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("no %q in terminal output %q", want, s.b.String())
}
