package cli

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// hashTree is the sha256 of every file under dir, by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPromoteAndChannels(t *testing.T) {
	keys, priv, pub := releaseKeys(t)
	key := filepath.Join(keys, sign.PrivateKeyFile)
	rp := filepath.Join(t.TempDir(), "repo")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		dir := fakeBuild{version: v, key: priv, secureBoot: true}.write(t, filepath.Join(t.TempDir(), "out"))
		if code, out := run(t, "release", "--from-build", dir, "--repo", rp, "--channel", "alpha", "--sign-key", key); code != ExitOK {
			t.Fatal(out)
		}
	}
	objects := filepath.Join(rp, "objects")
	before := hashTree(t, objects)
	if code, out := run(t, "promote", "1.0.0", "--from", "alpha", "--to", "beta", "--repo", rp, "--sign-key", key); code == ExitOK || !strings.Contains(out, "offers 1.1.0, not 1.0.0") {
		t.Errorf("promoting a version alpha no longer offers: exit %d\n%s", code, out)
	}
	code, out := run(t, "promote", "1.1.0", "--from", "alpha", "--to", "beta", "--repo", rp, "--sign-key", key)
	if code != ExitOK || !strings.Contains(out, "promoted minimal 1.1.0 from alpha to beta") {
		t.Fatalf("promote: exit %d\n%s", code, out)
	}
	after := hashTree(t, objects)
	if len(after) != len(before) {
		t.Errorf("promotion changed the number of objects: %d -> %d", len(before), len(after))
	}
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("promotion changed object %s", p)
		}
	}
	if code, out := run(t, "promote", "1.1.0", "--from", "alpha", "--to", "beta", "--repo", rp, "--sign-key", key); code == ExitOK || !strings.Contains(out, "not newer") {
		t.Errorf("promoting what beta already offers: exit %d\n%s", code, out)
	}
	otherKeys, _, _ := releaseKeys(t)
	if code, out := run(t, "promote", "1.1.0", "--from", "alpha", "--to", "stable", "--repo", rp, "--sign-key", filepath.Join(otherKeys, sign.PrivateKeyFile)); code == ExitOK || !strings.Contains(out, "does not match any trusted key") {
		t.Errorf("promote with a key alpha is not signed with: exit %d\n%s", code, out)
	}

	// A reader of beta, over HTTP from imgbuild serve's handler, gets
	// exactly alpha's files, byte for byte.
	s, err := server.New(rp, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	trusted := []ed25519.PublicKey{pub}
	beta, err := repo.ReadChannel(repo.URL{Base: srv.URL}, "beta", trusted)
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := repo.ReadChannel(repo.Dir(rp), "alpha", trusted)
	if err != nil {
		t.Fatal(err)
	}
	if beta.Version != "1.1.0" || len(beta.Files) != len(alpha.Files) || len(beta.Files) != 7 {
		t.Fatalf("beta %+v", beta)
	}
	for i, f := range beta.Files {
		if f != alpha.Files[i] {
			t.Errorf("beta's %s differs from alpha's", f.Kind)
		}
		r, err := http.Get(srv.URL + "/" + f.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r.Body)
		r.Body.Close()
		want, _ := os.ReadFile(filepath.Join(rp, alpha.Files[i].Path))
		if sum := sha256.Sum256(got); string(got) != string(want) || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("beta's %s: the bytes served are not alpha's", f.Kind)
		}
	}

	code, out = run(t, "channels", "--repo", rp)
	if code != ExitOK || !strings.Contains(out, "CHANNEL") || !regexpLine(out, `^alpha\s+minimal\s+1\.1\.0\s+\d{4}-`) || !regexpLine(out, `^beta\s+minimal\s+1\.1\.0\s+.*\s7$`) {
		t.Errorf("channels: exit %d\n%s", code, out)
	}
	code, out = run(t, "channels", "--repo", rp, "--json")
	var infos []channelInfo
	if err := json.Unmarshal([]byte(out), &infos); code != ExitOK || err != nil || len(infos) != 2 {
		t.Fatalf("channels --json: exit %d, %v\n%s", code, err, out)
	}
	var size int64
	for _, f := range alpha.Files {
		size += f.Size
	}
	for _, i := range infos {
		if i.Version != "1.1.0" || i.Size != size || i.Since.IsZero() || i.Files[0].Kind != repo.KindRecord {
			t.Errorf("channels --json: %+v", i)
		}
	}
}

func regexpLine(out, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(out)
}
