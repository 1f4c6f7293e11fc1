package qemutests

import (
	"crypto/sha512"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/reftool"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// fileServer serves files over HTTP on 127.0.0.1 to a guest that reaches
// it only through guestfwd rules, and records the paths asked for.
type fileServer struct {
	addrs []string // one listener per guestfwd rule
	mu    sync.Mutex
	got   []string
}

// serveFiles serves files on n listeners, one for each guestfwd rule:
// QEMU's tcp: form connects once, when QEMU starts, and carries one
// guest connection (one fetch); two rules to one host address clash.
func serveFiles(t *testing.T, n int, files map[string]string) *fileServer {
	t.Helper()
	s := &fileServer{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.URL.Path)
		s.mu.Unlock()
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	})}
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addrs = append(s.addrs, l.Addr().String())
		go srv.Serve(l)
	}
	t.Cleanup(func() { srv.Close() })
	return s
}

// guestFwdAddr is where the guest reaches the test server through its
// n-th guestfwd rule. Each rule has its own guest port: QEMU names a
// rule's device by it.
func guestFwdAddr(n int) string { return fmt.Sprintf("10.0.2.100:%d", 8000+n) }

// guestFwds are the guestfwd rules to the server's listeners.
func (s *fileServer) guestFwds() []string {
	var rules []string
	for i, a := range s.addrs {
		rules = append(rules, fmt.Sprintf("tcp:%s-tcp:%s", guestFwdAddr(i), a))
	}
	return rules
}

// requests are the paths asked for so far, in order.
func (s *fileServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// httpFile is a storage.files entry fetched from url and verified by the
// sha512 of want.
func httpFile(path, url, want string) string {
	return fmt.Sprintf(`{"path":%q,"contents":{"source":%q,"verification":{"hash":"sha512-%x"}}}`, path, url, sha512.Sum512([]byte(want)))
}

// TestHTTPSourceWrongHash: a config whose http file does not match its
// verification.hash passes imgbuild config validate (only the fetched
// bytes can show it) and is refused on boot: the guest fetches both http
// files from a test server through guestfwds, the banner names the
// mismatching file's field, and ROOT holds nothing of the config, not
// even the key and the files staged before that file.
func TestHTTPSourceWrongHash(t *testing.T) {
	skipShort(t)
	srv := serveFiles(t, 2, map[string]string{"/good": "good\n", "/bad": "tampered\n"})
	config := writeFile(t, "wrong-hash.ign", fmt.Sprintf(`{"ignition":{"version":"3.4.0"},
 "passwd":{"users":[{"name":"root","sshAuthorizedKeys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA from-wrong-hash"]}]},
 "storage":{"files":[
  {"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,from-wrong-hash%%0A"}},
  {"path":"/var/lib/from-wrong-hash/data","contents":{"source":"data:,x"}},
  %s,
  %s]}}`,
		httpFile("/var/lib/from-wrong-hash/good", "http://"+guestFwdAddr(0)+"/good", "good\n"),
		httpFile("/var/lib/from-wrong-hash/bad", "http://"+guestFwdAddr(1)+"/bad", "original\n")))
	if code, out := imgbuildOut(t, "config", "validate", config); code != cli.ExitOK {
		t.Fatalf("config validate: exit %d, want %d (a hash is checked against the bytes, on boot)\n%s", code, cli.ExitOK, out)
	}

	img := diskCopy(t, buildImage(t, "minimal"))
	cfg := machineVM(img, filepath.Join(t.TempDir(), "vars.fd"), config)
	cfg.GuestFwds = srv.guestFwds()
	v := vmtest.Start(t, cfg)
	expectRefused(t, v, `\$\.storage\.files\.3\.contents\.source: verification\.hash mismatch: got [0-9a-f]+, the config says [0-9a-f]+`)
	// Both fetched: refused for the bytes, not for want of a network.
	if got := srv.requests(); strings.Join(got, " ") != "/good /bad" {
		t.Errorf("the test server was asked for %q, want /good then /bad", got)
	}
	checkNotOnRoot(t, img, "/var/lib/from-wrong-hash", contract.SSHKeysMachine+"/root", contract.IgnitionApplied)
	if out, _ := reftool.Run(t, "debugfs", "-R", "cat /etc/hostname", rootPartition(t, img)); strings.Contains(out, "from-wrong-hash") {
		t.Errorf("ROOT's /etc/hostname is the refused config's: %q", out)
	}
}
