package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

// relayArg makes the test binary a TCP relay: QEMU's guestfwd cmd: runs
// it once per guest connection with the connection on stdin and stdout,
// so the guest reaches a server on this machine's 127.0.0.1 and nothing
// else (the VM keeps restrict=on).
const relayArg = "imgbuild-test-relay"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == relayArg {
		os.Exit(relay(os.Args[2]))
	}
	os.Exit(m.Run())
}

func relay(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 1
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	return 0
}

// updateServerIP is where the guest finds the update server.
const updateServerIP = "10.0.2.100"

// guestFwd routes the guest's updateServerIP:80 to addr on this machine.
func guestFwd(t *testing.T, addr string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(exe, ", ") {
		t.Skipf("test binary path %q cannot go into a guestfwd rule", exe)
	}
	return fmt.Sprintf("tcp:%s:80-cmd:%s %s %s", updateServerIP, exe, relayArg, addr)
}

// updateImages are v1 and v2 of the minimal image following an update
// server, and a v3 whose service never becomes healthy, all signed by
// one key.
type updateImages struct {
	once       sync.Once
	err        error
	server     string
	dir        string
	key        ed25519Key
	v1, v2, v3 *build.Result
}

type ed25519Key struct{ priv, pub string }

// Update servers as the guest sees them.
const (
	staticServer = "http://" + updateServerIP + "/"
	omahaServer  = "http://" + updateServerIP + "/v1/update/"
)

var (
	updMu     sync.Mutex
	updImages = map[string]*updateImages{}
)

func buildUpdateImages(t *testing.T, server string) *updateImages {
	t.Helper()
	updMu.Lock()
	u, ok := updImages[server]
	if !ok {
		u = &updateImages{server: server}
		updImages[server] = u
	}
	updMu.Unlock()
	u.once.Do(func() { u.err = u.make() })
	if u.err != nil {
		t.Fatalf("build update images: %v", u.err)
	}
	return u
}

func (u *updateImages) make() error {
	dir, err := os.MkdirTemp("", "imgbuild-qemutest-update-")
	if err != nil {
		return err
	}
	u.dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "key"), 0o700); err != nil {
		return err
	}
	if u.key.pub, u.key.priv, err = sign.GenerateKey(filepath.Join(dir, "key")); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join("..", "manifests", "minimal.yaml"))
	if err != nil {
		return err
	}
	src = bytes.Replace(src, []byte("allow_unsigned: true"), []byte("allow_unsigned: false"), 1)
	section := "\nupdate:\n  server: " + u.server + "\n  channel: stable\n  interval: 5s\n"
	good := append(append([]byte(nil), src...), section+"  health_timeout: 90s\n"...)
	// v3's health check asks a port nothing listens on.
	sick := bytes.Replace(src, []byte("http: http://127.0.0.1:8080/"), []byte("http: http://127.0.0.1:8089/"), 1)
	if bytes.Equal(sick, src) {
		return fmt.Errorf("manifests/minimal.yaml no longer checks http://127.0.0.1:8080/; update this test")
	}
	sick = append(sick, section+"  health_timeout: 15s\n"...)
	for _, b := range []struct {
		res     **build.Result
		version string
		mf      []byte
	}{{&u.v1, "1.0.0", good}, {&u.v2, "2.0.0", good}, {&u.v3, "3.0.0", sick}} {
		vdir := filepath.Join(dir, b.version)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		mf := filepath.Join(vdir, "minimal.yaml")
		text := bytes.Replace(b.mf, []byte("\nversion: 1.0.0\n"), []byte("\nversion: "+b.version+"\n"), 1)
		if !bytes.Contains(text, []byte("\nversion: "+b.version+"\n")) {
			return fmt.Errorf("manifests/minimal.yaml no longer has version: 1.0.0; update this test")
		}
		if err := os.WriteFile(mf, text, 0o644); err != nil {
			return err
		}
		start := time.Now()
		*b.res, err = build.Run(context.Background(), build.Options{Manifest: mf, OutDir: filepath.Join(vdir, "out"),
			SignKey: u.key.priv})
		fmt.Fprintf(os.Stderr, "built minimal %s in %.1fs\n", b.version, time.Since(start).Seconds())
		if err != nil {
			return fmt.Errorf("%s: %w", b.version, err)
		}
	}
	return nil
}

// publish puts a build's payload into the repository at root and
// points channel at it.
func (u *updateImages) publish(t *testing.T, root, channel string, res *build.Result) *repo.Channel {
	t.Helper()
	kinds := map[string]string{"release": repo.KindRecord, "signature": repo.KindSignature, "usr": repo.KindUSR,
		"kernel": repo.KindKernel, "initramfs": repo.KindInitramfs}
	files := map[string]string{}
	for art, kind := range kinds {
		files[kind] = artifact(t, res, art)
	}
	p, err := repo.AddPayload(root, files)
	if err != nil {
		t.Fatal(err)
	}
	key, err := sign.LoadPrivate(u.key.priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Publish(root, channel, p, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// repoServer serves a static repository on 127.0.0.1 and logs requests.
type repoServer struct {
	root string
	addr string
	mu   sync.Mutex
	log  []string
}

func serveRepo(t *testing.T, root string) *repoServer {
	t.Helper()
	return serve(t, root, http.FileServer(http.Dir(root)))
}

// serve runs h on 127.0.0.1, logging requests.
func serve(t *testing.T, root string, h http.Handler) *repoServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &repoServer{root: root, addr: l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *repoServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}
