package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imgbuild/imgbuild/build/oci/ocitest"
	"github.com/imgbuild/imgbuild/manifest"
)

func layer(t *testing.T, fs ...ocitest.File) v1.Layer {
	t.Helper()
	l, err := ocitest.Layer(fs...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func file(name, content string, mode int64, uid int) ocitest.File {
	f := ocitest.Reg(name, mode, content)
	f.Uid, f.Gid = uid, uid
	return f
}

func hdr(h tar.Header) ocitest.File { return ocitest.File{Header: h} }

// testImage has two layers: the second deletes a file (whiteout),
// hides a directory's lower contents (opaque) and replaces a file.
func testImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	l1 := layer(t,
		hdr(tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}),
		file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n", 0o644, 0),
		file("etc/gone", "deleted above", 0o644, 0),
		file("app/secret", "only in the image\n", 0o4750, 1000),
		hdr(tar.Header{Typeflag: tar.TypeLink, Name: "app/again", Linkname: "app/secret"}),
		hdr(tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "/app/secret", Mode: 0o777}),
		hdr(tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666}),
		hdr(tar.Header{Typeflag: tar.TypeDir, Name: "opt/", Mode: 0o755}),
		file("opt/old", "hidden by the opaque directory", 0o644, 0),
		file("app/version", "1", 0o644, 0),
	)
	l2 := layer(t,
		file("etc/.wh.gone", "", 0o644, 0),
		file("opt/.wh..wh..opq", "", 0o644, 0),
		file("opt/new", "new", 0o600, 0),
		file("app/version", "2", 0o644, 0),
	)
	img, err := ocitest.Image(arch, v1.Config{Entrypoint: []string{"/app/server"}, Cmd: []string{"-v"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", WorkingDir: "/app"}, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// writeLayout writes an OCI layout holding img and an index of the
// given platforms' images (img for amd64, another for the rest).
func writeLayout(t *testing.T, dir string, img v1.Image, indexArchs ...string) (imgDigest, indexDigest string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	idx := v1.ImageIndex(empty.Index)
	for _, arch := range indexArchs {
		add := img
		if arch != "amd64" {
			add = testImage(t, arch)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: add, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if len(indexArchs) > 0 {
		if err := p.AppendIndex(idx); err != nil {
			t.Fatal(err)
		}
		indexDigest = digestOf(t, idx)
	}
	return digestOf(t, img), indexDigest
}

func ref(t *testing.T, s string) manifest.ImageRef {
	t.Helper()
	r, err := manifest.ParseImageRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveLayout(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t, "amd64")
	imgDigest, indexDigest := writeLayout(t, filepath.Join(dir, "oci-app"), img, "arm64", "amd64")
	mf := filepath.Join(dir, "web.yaml")
	for _, d := range []string{imgDigest, indexDigest} {
		got, err := Resolve(context.Background(), ref(t, "oci-app@"+d), mf)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if got.Digest.String() != imgDigest || got.Config.Config.User != "app" {
			t.Errorf("by %s: got image %s (user %q), want %s", d, got.Digest, got.Config.Config.User, imgDigest)
		}
	}
}

func TestResolveRefused(t *testing.T) {
	dir := t.TempDir()
	mf := filepath.Join(dir, "web.yaml")
	amd := testImage(t, "amd64")
	_, armIndex := writeLayout(t, filepath.Join(dir, "arm"), amd, "arm64", "s390x")
	armImg, _ := writeLayout(t, filepath.Join(dir, "armonly"), testImage(t, "arm64"))
	other := "sha256:" + strings.Repeat("ab", 32)
	for _, tt := range []struct{ name, ref, want string }{
		{"no linux/amd64 in the index", "arm@" + armIndex, "has no linux/amd64 image (platforms: linux/arm64, linux/s390x)"},
		{"image of another platform", "armonly@" + armImg, "is for linux/arm64, not linux/amd64"},
		{"digest mismatch", "arm@" + other, "digest mismatch: " + filepath.Join(dir, "arm") + " has no manifest " + other + " (it has sha256:"},
		{"missing path", "nothere@" + other, filepath.Join(dir, "nothere") + " does not exist: want an OCI image layout directory or a docker-archive tarball"},
		{"not a layout", ".@" + other, "is not an OCI image layout (no index.json)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(context.Background(), ref(t, tt.ref), mf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A blob changed after the layout was written fails its digest.
func TestResolveTampered(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t, "amd64")
	d, _ := writeLayout(t, filepath.Join(dir, "app"), img)
	layers, _ := img.Layers()
	h, _ := layers[0].Digest()
	blob := filepath.Join(dir, "app", "blobs", h.Algorithm, h.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	os.WriteFile(blob, data, 0o644)
	if _, err := Resolve(context.Background(), ref(t, "app@"+d), filepath.Join(dir, "m.yaml")); err == nil || !strings.Contains(err.Error(), "does not match its digests") {
		t.Errorf("tampered layer: %v", err)
	}
}

func TestResolveDockerArchive(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t, "amd64")
	tag, _ := name.NewTag("app:latest")
	if err := tarball.WriteToFile(filepath.Join(dir, "app.tar"), tag, img); err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	got, err := Resolve(context.Background(), ref(t, "app.tar@"+id.String()), filepath.Join(dir, "m.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfigDigest != id {
		t.Errorf("config %s, want %s", got.ConfigDigest, id)
	}
	other := "sha256:" + strings.Repeat("cd", 32)
	if _, err := Resolve(context.Background(), ref(t, "app.tar@"+other), filepath.Join(dir, "m.yaml")); err == nil || !strings.Contains(err.Error(), "digest mismatch: "+filepath.Join(dir, "app.tar")+" holds image "+id.String()) {
		t.Errorf("wrong digest: %v", err)
	}
}

func TestResolveRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := testImage(t, "amd64")
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r, _ := name.ParseReference(host + "/me/app:1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(context.Background(), ref(t, host+"/me/app@"+digestOf(t, idx)), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest.String() != digestOf(t, img) {
		t.Errorf("got %s, want the amd64 image %s", got.Digest, digestOf(t, img))
	}
	other := "sha256:" + strings.Repeat("ef", 32)
	if _, err := Resolve(context.Background(), ref(t, host+"/me/app@"+other), "m.yaml"); err == nil {
		t.Error("an unknown digest resolved")
	}
}

func TestFlatten(t *testing.T) {
	dir := t.TempDir()
	if err := Flatten(testImage(t, "amd64"), dir); err != nil {
		t.Fatal(err)
	}
	tree, err := LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range tree.Entries {
		got[e.Path] = e
	}
	content := func(p string) string {
		rc, err := tree.Open(got[p])
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	for _, p := range []string{"etc/gone", "opt/old", "etc/.wh.gone", "opt/.wh..wh..opq"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s is in the tree", p)
		}
	}
	if s := got["app/secret"]; s.Mode != fs.ModeSetuid|0o750 || s.UID != 1000 || s.GID != 1000 || content("app/secret") != "only in the image\n" {
		t.Errorf("app/secret = %+v %q", s, content("app/secret"))
	}
	if content("app/again") != "only in the image\n" || got["app/again"].Target != "" {
		t.Errorf("hard link app/again = %+v", got["app/again"])
	}
	if content("app/version") != "2" || content("opt/new") != "new" {
		t.Errorf("upper layer's files: version %q, opt/new %q", content("app/version"), content("opt/new"))
	}
	if s := got["bin/sh"]; s.Mode.Type() != fs.ModeSymlink || s.Target != "/app/secret" {
		t.Errorf("bin/sh = %+v", s)
	}
	if d := got["dev/null"]; d.Mode.Type() != fs.ModeDevice|fs.ModeCharDevice || d.Rdev != 259 {
		t.Errorf("dev/null = %+v", d)
	}
	if d := got["etc"]; !d.Mode.IsDir() {
		t.Errorf("etc = %+v", d)
	}
}

func TestReadTreeRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    ocitest.File
		want string
	}{
		{"dot-dot", file("../x", "", 0o644, 0), `tar entry "../x" leaves the image root`},
		{"inner dot-dot", file("a/../../x", "", 0o644, 0), `leaves the image root`},
		{"hard link out", hdr(tar.Header{Typeflag: tar.TypeLink, Name: "a", Linkname: "../../etc/shadow"}), `hard link a: tar entry "../../etc/shadow" leaves the image root`},
		{"hard link to nothing", hdr(tar.Header{Typeflag: tar.TypeLink, Name: "a", Linkname: "b"}), `hard link a names b, which is not a regular file`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			h := tt.h.Header
			tw.WriteHeader(&h)
			tw.Close()
			_, err := readTree(tar.NewReader(&buf), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRuntime(t *testing.T) {
	cf := &v1.ConfigFile{Config: v1.Config{Entrypoint: []string{"/app/server"}, Cmd: []string{"-v"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", WorkingDir: "/app"}}
	for _, tt := range []struct {
		name string
		s    manifest.Service
		want Process
	}{
		{"image's", manifest.Service{}, Process{Argv: []string{"/app/server", "-v"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", Workdir: "/app"}},
		{"args", manifest.Service{Args: []string{"-q"}}, Process{Argv: []string{"/app/server", "-q"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", Workdir: "/app"}},
		{"empty args drop cmd", manifest.Service{Args: []string{}}, Process{Argv: []string{"/app/server"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", Workdir: "/app"}},
		{"command drops cmd", manifest.Service{Command: "/bin/sh"}, Process{Argv: []string{"/bin/sh"}, Env: []string{"PATH=/app", "MODE=image"}, User: "app", Workdir: "/app"}},
		{"overrides", manifest.Service{Command: "/bin/sh", Args: []string{"-c", "x"}, Env: map[string]string{"MODE": "manifest", "A": "1"}, User: "0:0", Workdir: "/srv"},
			Process{Argv: []string{"/bin/sh", "-c", "x"}, Env: []string{"PATH=/app", "A=1", "MODE=manifest"}, User: "0:0", Workdir: "/srv"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Runtime(cf, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Argv, " ") != strings.Join(tt.want.Argv, " ") || strings.Join(got.Env, " ") != strings.Join(tt.want.Env, " ") || got.User != tt.want.User || got.Workdir != tt.want.Workdir {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	bare := &v1.ConfigFile{}
	if p, err := Runtime(bare, manifest.Service{Command: "/x"}); err != nil || p.Workdir != "/" || p.Env[0] != defaultPath {
		t.Errorf("bare config: %+v, %v", p, err)
	}
	if _, err := Runtime(bare, manifest.Service{}); err == nil || !strings.Contains(err.Error(), "neither entrypoint nor cmd: set command") {
		t.Errorf("no entrypoint: %v", err)
	}
}
