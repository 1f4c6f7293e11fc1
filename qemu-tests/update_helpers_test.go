package qemutests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/kernel"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/sign/secureboot"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// TestMain lets QEMU's guestfwd rules run this test binary as the relay
// that joins a guest's connection to a test's server on 127.0.0.1
// (qemu.RelayFwd): the guest reaches that and nothing else.
func TestMain(m *testing.M) {
	if addr := qemu.RelayAddr(); addr != "" {
		os.Exit(qemu.Relay(addr))
	}
	if os.Getenv(asCLI) == "1" {
		os.Exit(cli.Execute(context.Background(), cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// updateServerIP is where the guest finds the update server.
const updateServerIP = "10.0.2.100"

// guestFwd routes the guest's updateServerIP:80 to addr on this machine.
func guestFwd(t *testing.T, addr string) string {
	t.Helper()
	fwd, err := qemu.RelayFwd(updateServerIP+":80", addr)
	if err != nil {
		t.Skip(err)
	}
	return fwd
}

// updateImages are builds of the minimal image following an update
// server on a channel, all signed by one release key: v1 and v2 (healthy,
// the default health_timeout), and for the rollback test v3, whose
// service never becomes healthy (health_timeout 15 s), and v3b (3.0.1),
// whose initramfs lacks dm_verity, a module the disk needs. With
// secureBoot, every build carries a signed UKI per slot.
type updateImages struct {
	once     sync.Once
	err      error
	spec     updateSpec
	dir      string
	key      ed25519Key
	sbKeys   string // Secure Boot key directory (secureBoot only)
	v1, v2   *output.Result
	v3, v3b  *output.Result // rollback only
	versions map[*output.Result]string
}

// updateSpec says which update images to build.
type updateSpec struct {
	server, channel string
	rollback        bool // also v3 and v3b
	secureBoot      bool
}

type ed25519Key struct{ priv, pub string }

// Update servers as the guest sees them.
const (
	staticServer = "http://" + updateServerIP + "/"
	omahaServer  = "http://" + updateServerIP + "/v1/update/"
)

var (
	updMu     sync.Mutex
	updImages = map[updateSpec]*updateImages{}
)

// v2KernelArg is the kernel argument only v2 has; dotted, so the kernel
// takes it for a parameter of a module it does not have and ignores it.
const (
	v2KernelArg  = "release.test=v2"
	v2KernelFrom = "\n  package: linux-image-cloud-amd64\n"
)

func buildUpdateImages(t *testing.T, spec updateSpec) *updateImages {
	t.Helper()
	updMu.Lock()
	u, ok := updImages[spec]
	if !ok {
		u = &updateImages{spec: spec}
		updImages[spec] = u
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
	if u.spec.secureBoot {
		u.sbKeys = filepath.Join(dir, "sbkeys")
		if err := os.MkdirAll(u.sbKeys, 0o700); err != nil {
			return err
		}
		if _, err := secureboot.Generate(u.sbKeys, "imgbuild qemu-test update", secureboot.DefaultBits, time.Now()); err != nil {
			return err
		}
	}
	src, err := minimalWith("allow_unsigned: true", "allow_unsigned: false")
	if err != nil {
		return err
	}
	section := "\nupdate:\n  server: " + u.spec.server + "\n  channel: " + u.spec.channel + "\n  interval: 5s\n"
	// Healthy releases keep the default health_timeout (120 s): a slow,
	// loaded machine must not roll back a good release.
	good := append(append([]byte(nil), src...), section...)
	u.versions = map[*output.Result]string{}
	if err := u.build(&u.v1, "1.0.0", good); err != nil {
		return err
	}
	// v2 adds a kernel argument: the update must bring it to slot B's
	// entry (the record's kernel_args), as a build of v2 writes it.
	v2 := bytes.Replace(good, []byte(v2KernelFrom), []byte(v2KernelFrom+"  cmdline: ["+v2KernelArg+"]\n"), 1)
	if bytes.Equal(v2, good) {
		return fmt.Errorf("manifests/minimal.yaml no longer has %q; update this test", v2KernelFrom)
	}
	if err := u.build(&u.v2, "2.0.0", v2); err != nil {
		return err
	}
	if !u.spec.rollback {
		return nil
	}
	// v3's health check asks a port nothing listens on.
	sick := bytes.Replace(src, []byte("http: http://127.0.0.1:8080/"), []byte("http: http://127.0.0.1:8089/"), 1)
	if bytes.Equal(sick, src) {
		return fmt.Errorf("manifests/minimal.yaml no longer checks http://127.0.0.1:8080/; update this test")
	}
	if err := u.build(&u.v3, "3.0.0", append(sick, section+"  health_timeout: 15s\n"...)); err != nil {
		return err
	}
	broken, err := u.brokenKernel(good)
	if err != nil {
		return err
	}
	return u.build(&u.v3b, "3.0.1", broken)
}

// build builds one version of manifest text mf into dir/<version>.
func (u *updateImages) build(res **output.Result, ver string, mf []byte) error {
	vdir := filepath.Join(u.dir, ver)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	text := bytes.Replace(mf, []byte("\nversion: 1.0.0\n"), []byte("\nversion: "+ver+"\n"), 1)
	if !bytes.Contains(text, []byte("\nversion: "+ver+"\n")) {
		return fmt.Errorf("manifests/minimal.yaml no longer has version: 1.0.0; update this test")
	}
	path := filepath.Join(vdir, "minimal.yaml")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		return err
	}
	start := time.Now()
	r, err := build.Run(context.Background(), build.Options{Manifest: path, OutDir: filepath.Join(vdir, "out"),
		SignKey: u.key.priv, SecureBootKeys: u.sbKeys})
	fmt.Fprintf(os.Stderr, "built minimal %s in %.1fs\n", ver, time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("%s: %w", ver, err)
	}
	*res = r
	u.versions[r] = ver
	return nil
}

// brokenKernel is the good manifest with the same Debian kernel taken
// from a modules directory whose modules.builtin wrongly says dm_verity
// is built in, the kind of packaging mistake that ships an initramfs
// without a module the disk needs: stage-1 then cannot set up USR.
func (u *updateImages) brokenKernel(good []byte) ([]byte, error) {
	lock, err := os.ReadFile(filepath.Join(u.dir, "1.0.0", "minimal.lock"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?s)linux-image-cloud-amd64:.*?sha256: ([0-9a-f]{64})`).FindSubmatch(lock)
	if m == nil {
		return nil, fmt.Errorf("no kernel pin in minimal.lock")
	}
	cache := build.DefaultCacheDir()
	k, err := kernel.FromDeb(deb.CachePath(cache, string(m[1])), cache)
	if err != nil {
		return nil, err
	}
	mods, err := k.Closure(kernel.DefaultModules)
	if err != nil {
		return nil, err
	}
	dst := filepath.Join(u.dir, "broken-kernel", filepath.Base(k.ModulesDir))
	verity := ""
	for _, mod := range mods {
		if mod.Name == "dm_verity" {
			verity = mod.RelPath
			continue
		}
		if err := copyFileTo(mod.Path, filepath.Join(dst, filepath.FromSlash(mod.RelPath))); err != nil {
			return nil, err
		}
	}
	if verity == "" {
		return nil, fmt.Errorf("kernel %s has no dm_verity module to leave out", k.Release)
	}
	builtin, err := os.ReadFile(filepath.Join(k.ModulesDir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	builtin = append(builtin, []byte(strings.SplitN(verity, ".ko", 2)[0]+".ko\n")...)
	if err := os.WriteFile(filepath.Join(dst, "modules.builtin"), builtin, 0o644); err != nil {
		return nil, err
	}
	pkg := []byte("kernel:\n  package: linux-image-cloud-amd64\n")
	if !bytes.Contains(good, pkg) {
		return nil, fmt.Errorf("manifests/minimal.yaml no longer takes linux-image-cloud-amd64; update this test")
	}
	return bytes.Replace(good, pkg, []byte("kernel:\n  path: "+k.VmlinuzPath+"\n  modules_dir: "+dst+"\n"), 1), nil
}

func copyFileTo(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// release publishes a build to channel of the repository at root the
// way a user does, with imgbuild release --from-build.
func (u *updateImages) release(t *testing.T, root, channel string, res *output.Result) {
	t.Helper()
	out := filepath.Join(u.dir, u.versions[res], "out")
	if code, o := imgbuildOut(t, "release", "--from-build", out, "--repo", root, "--channel", channel, "--sign-key", u.key.priv); code != cli.ExitOK {
		t.Fatalf("imgbuild release %s: exit %d\n%s", u.versions[res], code, o)
	}
}

// promote points to at what from offers with imgbuild promote, checking
// that not one object of the repository changed.
func (u *updateImages) promote(t *testing.T, root, version, from, to string) {
	t.Helper()
	before := hashTree(t, filepath.Join(root, "objects"))
	if code, o := imgbuildOut(t, "promote", version, "--from", from, "--to", to, "--repo", root, "--sign-key", u.key.priv); code != cli.ExitOK {
		t.Fatalf("imgbuild promote %s: exit %d\n%s", version, code, o)
	}
	if after := hashTree(t, filepath.Join(root, "objects")); after != before {
		t.Fatalf("imgbuild promote changed the repository's objects")
	}
}

// hashTree hashes every file name and content below dir.
func hashTree(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// channelFile is the file of kind a channel of the repository offers.
func channelFile(t *testing.T, root, channel, kind, pub string) repo.File {
	t.Helper()
	key, err := sign.LoadPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.ReadChannel(repo.Dir(root), channel, []ed25519.PublicKey{key})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Files {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("channel %s offers no %s", channel, kind)
	return repo.File{}
}

// usrSHA256 hashes the first n bytes of a USR slot of a disk image.
func usrSHA256(t *testing.T, img, slot string, n int64) string {
	t.Helper()
	part, err := contract.USR(slot)
	if err != nil {
		t.Fatal(err)
	}
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := info.Partition(part.Number)
	if !ok || p.Size < n {
		t.Fatalf("%s: no partition %d of at least %d bytes", img, part.Number, n)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, p.Start, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// machines is what imgbuild serve's /v1/machines says.
func machines(t *testing.T, addr string) []server.Machine {
	t.Helper()
	r, err := http.Get("http://" + addr + server.MachinesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var list []server.Machine
	if err := json.NewDecoder(r.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list
}

// eventString is a machine's events as "13/1 3/2<1.0.0 3/0:44".
func eventString(m server.Machine) string {
	var out []string
	for _, e := range m.Events {
		s := fmt.Sprintf("%d/%d", e.Type, e.Result)
		if e.PreviousVersion != "" {
			s += "<" + e.PreviousVersion
		}
		if e.ErrorCode != 0 {
			s += fmt.Sprintf(":%d", e.ErrorCode)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// waitEvents waits a little for the one machine's events to start with
// want (the agent prints its console line before it reports) and
// returns that machine.
func waitEvents(t *testing.T, addr, want string) (server.Machine, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := machines(t, addr)
		if len(list) > 1 {
			t.Fatalf("%d machines reported, want 1", len(list))
		}
		if len(list) == 1 {
			got := eventString(list[0])
			if strings.HasPrefix(got, want) || time.Now().After(deadline) {
				return list[0], got
			}
		} else if time.Now().After(deadline) {
			return server.Machine{}, ""
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publish puts a build's payload into the repository at root and
// points channel at it.
func (u *updateImages) publish(t *testing.T, root, channel string, res *output.Result) *repo.Channel {
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

// waitRollout waits until serve at base shows channel's rollout of
// version paused with a reason containing why (serve records a report
// just after it answers it).
func waitRollout(t *testing.T, base, channel, version, why string) {
	t.Helper()
	c := &server.Client{Base: base}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := c.Rollouts(context.Background(), channel)
		if err != nil {
			t.Fatalf("rollouts of %s: %v", channel, err)
		}
		for _, r := range list {
			if r.Version == version && r.Paused && strings.Contains(r.Why, why) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout of %s on %s not paused with %q: %+v", version, channel, why, list)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
