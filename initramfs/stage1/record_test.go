package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/sign"
)

func testKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey, string) {
	t.Helper()
	pubPath, privPath, err := sign.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.LoadPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := sign.LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv, pubPath
}

func TestVerifyRelease(t *testing.T) {
	pub, priv, _ := testKey(t)
	otherPub, otherPriv, _ := testKey(t)
	rec := sign.Record{Format: sign.RecordFormat, Name: "minimal", Version: "1.0.0", Arch: "amd64",
		VerityRoot: strings.Repeat("ab", 32), VeritySalt: "0011", HashOffset: 8192, DataBlocks: 2}
	recJSON := rec.Canonical()
	sig, err := sign.Sign(rec, priv)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, _ := sign.Sign(rec, otherPriv)
	badRoot := rec
	badRoot.VerityRoot = "xyz"
	badSig, _ := sign.Sign(badRoot, priv)
	tampered := []byte(strings.Replace(string(recJSON), "abab", "abac", 1))
	trusted := trust{keys: []ed25519.PublicKey{pub}}
	tests := []struct {
		name    string
		record  []byte
		sig     []byte
		t       trust
		cmdline string
		wantKey string
		wantErr string
	}{
		{"signed", recJSON, sig, trusted, "", sign.KeyID(pub), ""},
		{"signed, cmdline agrees", recJSON, sig, trusted, rec.VerityRoot, sign.KeyID(pub), ""},
		{"second of two keys", recJSON, otherSig, trust{keys: []ed25519.PublicKey{pub, otherPub}}, "", sign.KeyID(otherPub), ""},
		{"other key", recJSON, otherSig, trusted, "", "", "does not match any trusted key (key ids: " + sign.KeyID(pub)},
		{"tampered record", tampered, sig, trusted, "", "", "does not match any trusted key"},
		{"missing signature", recJSON, nil, trusted, "", "", "release.sig is missing"},
		{"bad signature even when unsigned is allowed", recJSON, otherSig, trust{keys: []ed25519.PublicKey{pub}, allowUnsigned: true}, "", "", "does not match"},
		{"unsigned allowed", recJSON, nil, trust{allowUnsigned: true}, "", "", ""},
		{"cmdline differs", recJSON, sig, trusted, strings.Repeat("cd", 32), "", "differs from the root hash"},
		{"cmdline differs, unsigned", recJSON, nil, trust{allowUnsigned: true}, strings.Repeat("cd", 32), "", "differs from the root hash"},
		{"signed record without a usable root", badRoot.Canonical(), badSig, trusted, "", "", "verity_root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := verifyRecord(tt.record, tt.sig, tt.t, "a", tt.cmdline)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.keyID != tt.wantKey {
				t.Errorf("key id %q, want %q", r.keyID, tt.wantKey)
			}
			if r.params.DataBlocks != 2 || r.params.HashOffset != 8192 || len(r.params.RootHash) != 32 || r.params.Salt[1] != 0x11 {
				t.Errorf("params = %+v", r.params)
			}
		})
	}
}

func TestLoadTrust(t *testing.T) {
	dir := t.TempDir()
	_, _, pubPath := testKey(t)
	data, _ := os.ReadFile(pubPath)
	os.WriteFile(filepath.Join(dir, "k1.pub"), data, 0o644)
	marker := filepath.Join(dir, "allow-unsigned")
	tr, err := loadTrust(dir, marker)
	if err != nil || len(tr.keys) != 1 || tr.allowUnsigned {
		t.Fatalf("loadTrust = %+v, %v", tr, err)
	}
	os.WriteFile(marker, nil, 0o644)
	if tr, _ = loadTrust(dir, marker); !tr.allowUnsigned {
		t.Error("marker not seen")
	}
	os.WriteFile(filepath.Join(dir, "broken.pub"), []byte("junk"), 0o644)
	if _, err := loadTrust(dir, marker); err == nil || !strings.Contains(err.Error(), "broken.pub") {
		t.Errorf("broken key file: err = %v", err)
	}
}
