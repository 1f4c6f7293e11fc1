package sign

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sampleRecord() Record {
	return Record{
		Format: RecordFormat, Name: "minimal", Version: "1.2.3", Arch: "amd64",
		Kernel: strings.Repeat("a", 64), Initramfs: strings.Repeat("b", 64), USR: strings.Repeat("c", 64), USRSize: 4096,
		VerityRoot: strings.Repeat("d", 64), VeritySalt: strings.Repeat("e", 64),
		VerityUUID: "01234567-89ab-cdef-0123-456789abcdef", HashOffset: 1 << 30, DataBlocks: 262144,
	}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pubPath, privPath, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestCanonical(t *testing.T) {
	want := `{"arch":"amd64","format":"imgbuild-release/2","initramfs_sha256":"` + strings.Repeat("b", 64) +
		`","kernel_sha256":"` + strings.Repeat("a", 64) + `","name":"minimal","usr_sha256":"` + strings.Repeat("c", 64) + `","usr_size":4096` +
		`,"verity_data_blocks":262144,"verity_hash_offset":1073741824,"verity_root":"` + strings.Repeat("d", 64) +
		`","verity_salt":"` + strings.Repeat("e", 64) + `","verity_uuid":"01234567-89ab-cdef-0123-456789abcdef","version":"1.2.3"}`
	if got := string(sampleRecord().Canonical()); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
	r, err := ParseRecord(sampleRecord().Canonical())
	if err != nil || string(r.Canonical()) != string(sampleRecord().Canonical()) {
		t.Errorf("ParseRecord(Canonical) = %+v, %v", r, err)
	}
}

func TestParseRecord(t *testing.T) {
	ok := string(sampleRecord().Canonical())
	future := strings.Replace(ok, `{`, `{"added_in_2_1":{"x":[1]},`, 1)
	if r, err := ParseRecord([]byte(future)); err != nil || r.Name != "minimal" {
		t.Errorf("a record with a field added later must parse: %v", err)
	}
	minor := strings.Replace(ok, `"imgbuild-release/2"`, `"imgbuild-release/2.7"`, 1)
	if _, err := ParseRecord([]byte(minor)); err != nil {
		t.Errorf("format 2.7 refused: %v", err)
	}
	for _, bad := range []string{
		ok + ` {}`, `[1]`,
		strings.Replace(ok, `"verity_data_blocks":262144`, `"verity_data_blocks":-1`, 1),
		strings.Replace(ok, `"imgbuild-release/2"`, `"imgbuild-release/3"`, 1),
		strings.Replace(ok, `"format":"imgbuild-release/2",`, ``, 1),
		strings.Replace(ok, `"1.2.3"`, `"1.2"`, 1),
		strings.Replace(ok, `"1.2.3"`, `"v1.2.3"`, 1),
		strings.Replace(ok, `"1.2.3"`, `"1.2.3","min_version":"next"`, 1),
	} {
		if _, err := ParseRecord([]byte(bad)); err == nil {
			t.Errorf("ParseRecord(%s) accepted it", bad)
		}
	}
}

// TestRecordKernelArgs: kernel_args is optional, in order, signed, and
// every entry is one command-line argument.
func TestRecordKernelArgs(t *testing.T) {
	rec := sampleRecord()
	rec.KernelArgs = []string{"console=ttyS0,115200", "quiet", "imgbuild.test=v2", "a"}
	raw := rec.Canonical()
	want := `"initramfs_sha256":"` + strings.Repeat("b", 64) + `","kernel_args":["console=ttyS0,115200","quiet","imgbuild.test=v2","a"],"kernel_sha256"`
	if !strings.Contains(string(raw), want) {
		t.Errorf("canonical record %s lacks %s", raw, want)
	}
	r, err := ParseRecord(raw)
	if err != nil || strings.Join(r.KernelArgs, "|") != "console=ttyS0,115200|quiet|imgbuild.test=v2|a" {
		t.Errorf("parsed kernel_args %q, %v", r.KernelArgs, err)
	}
	if r, err := ParseRecord(sampleRecord().Canonical()); err != nil || r.KernelArgs != nil {
		t.Errorf("a record without kernel_args: %q, %v", r.KernelArgs, err)
	}
	pub, priv := newKey(t)
	sig, err := Sign(rec, priv)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(raw, []byte(`"imgbuild.test=v2"`), []byte(`"imgbuild.test=v3"`), 1)
	if _, err := Verify(changed, sig, []ed25519.PublicKey{pub}); err == nil {
		t.Error("a record with changed kernel_args verified")
	}
	for _, bad := range []string{`""`, `"a b"`, `"a\tb"`, `1`} {
		b := bytes.Replace(raw, []byte(`"quiet"`), []byte(bad), 1)
		if _, err := ParseRecord(b); err == nil {
			t.Errorf("kernel_args with %s accepted", bad)
		}
	}
}

func TestSignVerify(t *testing.T) {
	oldPub, oldPriv := newKey(t)
	newPub, newPriv := newKey(t)
	_, strayPriv := newKey(t)
	rec := sampleRecord()
	recJSON := rec.Canonical()
	tampered := bytes.Replace(recJSON, []byte(`"1.2.3"`), []byte(`"1.2.4"`), 1)
	sign := func(k ed25519.PrivateKey) []byte {
		s, err := Sign(rec, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name    string
		record  []byte
		sig     []byte
		keys    []ed25519.PublicKey
		wantErr string // empty: must verify
	}{
		{"round trip", recJSON, sign(oldPriv), []ed25519.PublicKey{oldPub}, ""},
		{"rotation: new key in list", recJSON, sign(newPriv), []ed25519.PublicKey{oldPub, newPub}, ""},
		{"rotation: old key still trusted", recJSON, sign(oldPriv), []ed25519.PublicKey{oldPub, newPub}, ""},
		{"rotation: old key dropped", recJSON, sign(oldPriv), []ed25519.PublicKey{newPub},
			"signature does not match any trusted key (key ids: " + KeyID(newPub) + "; the signature names key id " + KeyID(oldPub) + ")"},
		{"wrong key", recJSON, sign(strayPriv), []ed25519.PublicKey{oldPub, newPub},
			"key ids: " + KeyID(oldPub) + ", " + KeyID(newPub)},
		{"tampered record", tampered, sign(oldPriv), []ed25519.PublicKey{oldPub}, "does not match any trusted key"},
		{"record with trailing newline", append(recJSON, '\n'), sign(oldPriv), []ed25519.PublicKey{oldPub}, "does not match"},
		{"no keys", recJSON, sign(oldPriv), nil, "no trusted keys"},
		{"garbage signature", recJSON, []byte("hello\n"), []ed25519.PublicKey{oldPub}, "signature file"},
		{"flipped signature", recJSON, flipSig(t, sign(oldPriv)), []ed25519.PublicKey{oldPub}, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Verify(tt.record, tt.sig, tt.keys)
			if tt.wantErr == "" {
				if err != nil || string(r.Canonical()) != string(rec.Canonical()) {
					t.Fatalf("Verify = %+v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify error = %v, want it to contain %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrUnverified) {
				t.Errorf("Verify error %v is not ErrUnverified", err)
			}
		})
	}
	// A signature that verifies over a record that does not parse is
	// not a signature error.
	bad := []byte(`{"format":"imgbuild-release/9"}`)
	sig, err := SignBytes(signedContext, bad, oldPriv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(bad, sig, []ed25519.PublicKey{oldPub}); err == nil || errors.Is(err, ErrUnverified) {
		t.Errorf("unparsable record: %v, want an error that is not ErrUnverified", err)
	}
}

// flipSig changes one bit of the signature itself, keeping the file valid.
func flipSig(t *testing.T, sig []byte) []byte {
	t.Helper()
	lines := strings.Split(string(sig), "\n")
	b := []byte(lines[2])
	i := len("ed25519 ") + 3
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	lines[2] = string(b)
	return []byte(strings.Join(lines, "\n"))
}

func TestGenerateKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pubPath, privPath, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{privPath: 0o600, pubPath: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	priv, err := LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("public key file does not hold the private key's public half")
	}
	// The files are plain PEM another tool can read.
	if out, err := exec.Command("openssl", "pkey", "-in", privPath, "-noout", "-text").CombinedOutput(); err != nil || !strings.Contains(string(out), "ED25519") {
		t.Errorf("openssl cannot read the private key: %v\n%s", err, out)
	}
}

func TestGenerateKeyRefusesOverwrite(t *testing.T) {
	for _, existing := range []string{PrivateKeyFile, PublicKeyFile} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, existing)
			if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := GenerateKey(dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("GenerateKey = %v, want a refusal", err)
			}
			if b, _ := os.ReadFile(path); string(b) != "precious" {
				t.Error("existing file was changed")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("GenerateKey left %d files, want only the existing one", len(entries))
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	pubPath, privPath, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublic(privPath); err == nil {
		t.Error("LoadPublic accepted a private key file")
	}
	if _, err := LoadPrivate(pubPath); err == nil {
		t.Error("LoadPrivate accepted a public key file")
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a key"), 0o600)
	if _, err := LoadPublic(junk); err == nil {
		t.Error("LoadPublic accepted junk")
	}
	if _, err := LoadPrivate(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadPrivate accepted a missing file")
	}
}
