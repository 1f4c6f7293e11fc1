package cli

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// fakeBuild writes the outputs of a small build of image "minimal" as
// imgbuild build lays them out (NAME.json summary, NAME.release.json,
// ...): a signed record (when key is set) over tiny artifacts, with a
// UKI per slot when secureBoot. edit may change the artifacts after the
// record was made.
type fakeBuild struct {
	version    string
	key        ed25519.PrivateKey
	secureBoot bool
	edit       func(content map[string]string)
}

func (fb fakeBuild) write(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := map[string]string{"kernel": "kernel", "initramfs": "initrd " + fb.version, "usr": "usr " + fb.version + strings.Repeat("u", 4096)}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	rec := sign.Record{Format: sign.RecordFormat, Name: "minimal", Version: fb.version, Arch: "amd64",
		Kernel: sum(content["kernel"]), Initramfs: sum(content["initramfs"]), USR: sum(content["usr"]), USRSize: int64(len(content["usr"])),
		VerityRoot: strings.Repeat("d", 64), VeritySalt: strings.Repeat("e", 64)}
	if fb.secureBoot {
		content["uki-a"], content["uki-b"] = "uki a "+fb.version, "uki b "+fb.version
		rec.UKI = map[string]string{"a": sum(content["uki-a"]), "b": sum(content["uki-b"])}
	}
	content["release"] = string(rec.Canonical())
	if fb.key != nil {
		sig, err := sign.Sign(rec, fb.key)
		if err != nil {
			t.Fatal(err)
		}
		content["signature"] = string(sig)
	}
	if fb.edit != nil {
		fb.edit(content)
	}
	names := map[string]string{"kernel": "minimal.vmlinuz", "initramfs": "minimal.initrd", "usr": "minimal.usr",
		"release": "minimal.release.json", "signature": "minimal.release.sig", "uki-a": "minimal.uki-a.efi", "uki-b": "minimal.uki-b.efi"}
	res := output.Result{Name: "minimal", Version: fb.version, Target: "qemu"}
	for _, kind := range []string{"kernel", "initramfs", "usr", "release", "signature", "uki-a", "uki-b"} {
		data, ok := content[kind]
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, names[kind]), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		res.Artifacts = append(res.Artifacts, output.Artifact{Kind: kind, Path: names[kind], SHA256: sum(data), Size: int64(len(data))})
	}
	data, _ := json.Marshal(res)
	if err := os.WriteFile(filepath.Join(dir, "minimal.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// releaseKeys makes a key pair with imgbuild keygen.
func releaseKeys(t *testing.T) (dir string, priv ed25519.PrivateKey, pub ed25519.PublicKey) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "keys")
	if code, out := run(t, "keygen", "-o", dir); code != ExitOK {
		t.Fatal(out)
	}
	priv, err := sign.LoadPrivate(filepath.Join(dir, sign.PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, priv, priv.Public().(ed25519.PublicKey)
}

func TestReleaseFromBuild(t *testing.T) {
	keys, priv, pub := releaseKeys(t)
	_, otherPriv, _ := releaseKeys(t)
	key := filepath.Join(keys, sign.PrivateKeyFile)
	tmp := t.TempDir()
	rp := filepath.Join(tmp, "repo")
	release := func(fb fakeBuild, extra ...string) (int, string) {
		t.Helper()
		dir := fb.write(t, filepath.Join(t.TempDir(), "out"))
		return run(t, append([]string{"release", "--from-build", dir, "--repo", rp, "--channel", "alpha", "--sign-key", key}, extra...)...)
	}

	code, out := release(fakeBuild{version: "1.0.0", key: priv})
	if code != ExitOK || !strings.Contains(out, "released minimal 1.0.0 to alpha") {
		t.Fatalf("release: exit %d\n%s", code, out)
	}
	c, err := repo.ReadChannel(repo.Dir(rp), "alpha", []ed25519.PublicKey{pub})
	if err != nil || c.Version != "1.0.0" || len(c.Files) != 5 {
		t.Fatalf("alpha after release: %+v, %v", c, err)
	}
	// Each file a machine writes has its signed chunk index.
	for _, f := range c.Files {
		data, err := os.ReadFile(filepath.Join(rp, chunks.IndexPath(f.SHA256)))
		wantIndex := f.Kind != repo.KindRecord && f.Kind != repo.KindSignature
		if wantIndex != (err == nil) {
			t.Errorf("%s: index %v, want one: %v", f.Kind, err, wantIndex)
			continue
		}
		if !wantIndex {
			continue
		}
		sig, _ := os.ReadFile(filepath.Join(rp, chunks.IndexPath(f.SHA256)+".sig"))
		if _, err := chunks.Verify(data, sig, []ed25519.PublicKey{pub}, f.SHA256, f.Size); err != nil {
			t.Errorf("%s: %v", f.Kind, err)
		}
	}

	tests := []struct {
		name  string
		fb    fakeBuild
		extra []string
		code  int
		want  string
	}{
		{"unsigned build", fakeBuild{version: "1.1.0"}, nil, ExitFailure, "unsigned"},
		{"same version", fakeBuild{version: "1.0.0", key: priv}, nil, ExitFailure, "1.0.0 is not newer"},
		{"older version", fakeBuild{version: "0.9.0", key: priv}, nil, ExitFailure, "0.9.0 is not newer"},
		{"record of another key", fakeBuild{version: "1.1.0", key: otherPriv}, nil, ExitFailure, "does not match"},
		{"artifact changed after signing", fakeBuild{version: "1.1.0", key: priv, edit: func(c map[string]string) { c["usr"] += "x" }}, nil, ExitFailure, "the record says"},
		{"Secure Boot record without UKIs", fakeBuild{version: "1.1.0", key: priv, secureBoot: true, edit: func(c map[string]string) { delete(c, "uki-b") }}, nil, ExitFailure, "uki-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := release(tt.fb, tt.extra...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s", code, tt.code, tt.want, out)
			}
			if c, err := repo.ReadChannel(repo.Dir(rp), "alpha", []ed25519.PublicKey{pub}); err != nil || c.Version != "1.0.0" {
				t.Errorf("a refused release moved the channel: %+v, %v", c, err)
			}
		})
	}
	if code, out := run(t, "release", "--from-build", tmp, "--repo", rp, "--channel", "alpha"); code != ExitUsage || !strings.Contains(out, "unsigned release") {
		t.Errorf("release without --sign-key: exit %d\n%s", code, out)
	}

	if code, out := release(fakeBuild{version: "1.0.0", key: priv}, "--force"); code != ExitOK {
		t.Errorf("release --force of the same version: exit %d\n%s", code, out)
	}
	code, out = release(fakeBuild{version: "1.1.0", key: priv, secureBoot: true})
	if code != ExitOK {
		t.Fatalf("Secure Boot release: exit %d\n%s", code, out)
	}
	c, err = repo.ReadChannel(repo.Dir(rp), "alpha", []ed25519.PublicKey{pub})
	if err != nil || c.Version != "1.1.0" || len(c.Files) != 7 {
		t.Fatalf("alpha after the Secure Boot release: %+v, %v", c, err)
	}
	for _, kind := range []string{"uki-a", "uki-b"} {
		if _, ok := c.File(kind); !ok {
			t.Errorf("the Secure Boot payload has no %s", kind)
		}
	}
}

// TestReleaseBuild releases a real build of the shipped minimal
// manifest: the payload's objects are the build's artifacts, the record
// carries the release version, and a second release of the same version
// is refused before anything is built.
func TestReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	keys, _, pub := releaseKeys(t)
	key := filepath.Join(keys, sign.PrivateKeyFile)
	dir := t.TempDir()
	mf, out, rp := testManifest(t, dir), filepath.Join(dir, "out"), filepath.Join(dir, "repo")
	code, o := run(t, "release", "-q", "-f", mf, "-o", out, "--version", "1.0.0-nightly.20261201143000", "--repo", rp, "--channel", "alpha", "--sign-key", key)
	if code != ExitOK {
		t.Fatalf("release: exit %d\n%s", code, o)
	}
	c, err := repo.ReadChannel(repo.Dir(rp), "alpha", []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "1.0.0-nightly.20261201143000" || c.Name != "minimal" || len(c.Files) != 5 {
		t.Errorf("alpha: %+v", c)
	}
	rf, _ := c.File(repo.KindRecord)
	raw, _ := os.ReadFile(filepath.Join(rp, rf.Path))
	sf, _ := c.File(repo.KindSignature)
	sig, _ := os.ReadFile(filepath.Join(rp, sf.Path))
	rec, err := sign.Verify(raw, sig, []ed25519.PublicKey{pub})
	if err != nil || rec.Version != c.Version {
		t.Fatalf("record in the repository: %+v, %v", rec, err)
	}
	for kind, file := range map[string]string{repo.KindUSR: "minimal.usr", repo.KindKernel: "minimal.vmlinuz", repo.KindInitramfs: "minimal.initrd", repo.KindRecord: "minimal.release.json"} {
		f, _ := c.File(kind)
		if got := fileSum(t, filepath.Join(out, file)); got != f.SHA256 || fileSum(t, filepath.Join(rp, f.Path)) != got {
			t.Errorf("%s: object %s, build artifact %s", kind, f.SHA256, got)
		}
	}
	start := time.Now()
	code, o = run(t, "release", "-q", "-f", mf, "-o", filepath.Join(dir, "out2"), "--version", "1.0.0-nightly.20261201143000", "--repo", rp, "--channel", "alpha", "--sign-key", key)
	if code == ExitOK || !strings.Contains(o, "is not newer") {
		t.Errorf("second release of the same version: exit %d\n%s", code, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("the refused release built anyway (%s)", time.Since(start))
	}
}
