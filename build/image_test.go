package build

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgbuild/imgbuild/build/oci/ocitest"
	"github.com/imgbuild/imgbuild/manifest"
)

// appLayout writes an OCI layout of a one-file image beside the
// manifest and returns the image's digest.
func appLayout(t *testing.T, dir string, extra ...ocitest.File) string {
	t.Helper()
	l, err := ocitest.Layer(append([]ocitest.File{ocitest.Reg("app/hello", 0o755, "hi")}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ocitest.Image("amd64", v1.Config{Entrypoint: []string{"/app/hello"}, Env: []string{"PATH=/app"}, User: "1000"}, l)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ocitest.WriteLayout(filepath.Join(dir, "oci-app"), img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func appManifest(t *testing.T, dir, image string) *manifest.Manifest {
	t.Helper()
	src := "name: m\nversion: 1.0.0\nkernel: {package: k}\nservices:\n  - name: app\n    image: " + image + "\n    state: {dir: /var/lib/app, mount: /data/app}\n"
	p := filepath.Join(dir, "m.yaml")
	os.WriteFile(p, []byte(src), 0o644)
	m, err := manifest.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImageInUSR(t *testing.T) {
	dir := t.TempDir()
	m := appManifest(t, dir, "oci-app@"+appLayout(t, dir))
	l := &manifest.Lock{}
	changes, err := pinImages(context.Background(), m, &manifest.Lock{}, l, LockUpdateMissing)
	if err != nil || len(changes) != 1 || l.Images["app"].Digest != m.Services[0].Image[len("oci-app@"):] {
		t.Fatalf("pin: %v %v %+v", changes, err, l.Images)
	}
	if _, err := pinImages(context.Background(), m, &manifest.Lock{}, &manifest.Lock{}, LockFrozen); err != nil {
		t.Fatal(err)
	}
	b := &builder{m: m, lock: l, opts: Options{CacheDir: t.TempDir()}}
	img, _, err := b.fetchImage(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, detail, err := b.fetchImage(context.Background(), 0); err != nil || !strings.HasPrefix(detail, "cached") {
		t.Errorf("second fetch: %q, %v", detail, err)
	}
	for _, n := range []string{"sysinit", "agent"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o755)
	}
	es, err := usrEntries(m, usrInput{sysinit: filepath.Join(dir, "sysinit"), agent: filepath.Join(dir, "agent"), images: map[string]imageOut{"app": img}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fs.FileMode{}
	content := ""
	for _, e := range es {
		got[e.Path] = e.Mode
		if e.Path == "lib/imgbuild/images/app/rootfs/app/hello" {
			if e.ModTime.Unix() != 1700000000 {
				t.Errorf("app/hello's time %v, want the layer's", e.ModTime)
			}
			rc, _ := e.Open()
			b, _ := io.ReadAll(rc)
			content = string(b)
		}
	}
	if content != "hi" || got["lib/imgbuild/images/app/rootfs/app/hello"] != 0o755 {
		t.Errorf("app/hello: %q %v", content, got["lib/imgbuild/images/app/rootfs/app/hello"])
	}
	for _, d := range []string{"proc", "dev", "data", "data/app"} {
		if !got["lib/imgbuild/images/app/rootfs/"+d].IsDir() {
			t.Errorf("mount point /%s: %v", d, got["lib/imgbuild/images/app/rootfs/"+d])
		}
	}
	if got["lib/imgbuild/images/app/rootfs/etc/resolv.conf"] != 0o644 {
		t.Errorf("etc/resolv.conf: %v", got["lib/imgbuild/images/app/rootfs/etc/resolv.conf"])
	}
	s := runtimeConfig(m, map[string]imageOut{"app": img}).Services[0]
	if s.Command != "/app/hello" || s.User != "1000" || s.Container == nil || s.Container.Root != "/usr/lib/imgbuild/images/app/rootfs" ||
		s.Container.State.Source != "/var/lib/app" || s.Container.State.Target != "/data/app" || s.Container.Network != "host" || s.Container.Workdir != "/" {
		t.Errorf("service %+v, container %+v", s, s.Container)
	}
}

// The image's /tmp is a symlink: the runtime's tmpfs cannot go there.
func TestImageMountPointClash(t *testing.T) {
	dir := t.TempDir()
	m := appManifest(t, dir, "oci-app@"+appLayout(t, dir, ocitest.File{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "tmp", Linkname: "/var/tmp"}}))
	l := &manifest.Lock{}
	if _, err := pinImages(context.Background(), m, &manifest.Lock{}, l, LockUpdateMissing); err != nil {
		t.Fatal(err)
	}
	b := &builder{m: m, lock: l, opts: Options{CacheDir: t.TempDir()}}
	img, _, err := b.fetchImage(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sysinit"), nil, 0o755)
	_, err = usrEntries(m, usrInput{sysinit: filepath.Join(dir, "sysinit"), agent: filepath.Join(dir, "sysinit"), images: map[string]imageOut{"app": img}})
	if want := m.File + ":6:5: service app: image " + m.Services[0].Image + ": the image's /tmp is not a directory, and /tmp is a mount point"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestImageRefused(t *testing.T) {
	dir := t.TempDir()
	good := appLayout(t, dir)
	other := "sha256:" + strings.Repeat("0", 64)
	for _, tt := range []struct{ name, image, want string }{
		{"digest mismatch", "oci-app@" + other, filepath.Join(dir, "m.yaml") + ":6:5: service app: image oci-app@" + other + ": digest mismatch"},
		{"missing path", "gone@" + good, filepath.Join(dir, "m.yaml") + ":6:5: service app: image gone@" + good + ": " + filepath.Join(dir, "gone") + " does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := appManifest(t, dir, tt.image)
			_, err := pinImages(context.Background(), m, &manifest.Lock{}, &manifest.Lock{}, LockUpdateMissing)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	m := appManifest(t, dir, "oci-app@"+good)
	if changes, err := pinImages(context.Background(), m, &manifest.Lock{}, &manifest.Lock{}, LockFrozen); err != nil || len(changes) != 1 || !strings.Contains(changes[0], "not pinned") {
		t.Errorf("--locked without a pin: %v %v", changes, err)
	}
}
