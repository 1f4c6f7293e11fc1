package secureboot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	setOnce sync.Once
	sets    [2]*KeySet
	setErr  error
)

// keySets makes two independent key directories once per test binary
// (RSA key generation is the slow part).
func keySets(t *testing.T) [2]*KeySet {
	t.Helper()
	setOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imgbuild-sbkeys-")
		if err != nil {
			setErr = err
			return
		}
		for i := range sets {
			d := filepath.Join(dir, string(rune('a'+i)))
			if setErr = os.MkdirAll(d, 0o700); setErr != nil {
				return
			}
			if sets[i], setErr = Generate(d, "imgbuild test", DefaultBits, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)); setErr != nil {
				return
			}
		}
	})
	if setErr != nil {
		t.Fatal(setErr)
	}
	return sets
}

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is needed for this test (scripts/deps.sh installs it): %v", tool, err)
	}
}

func TestGUIDRoundTrip(t *testing.T) {
	for _, s := range []string{"8be4df61-93ca-11d2-aa0d-00e098032b8c", "d719b2cb-3d3a-4596-a3bc-dad00e67656f"} {
		g, err := ParseGUID(s)
		if err != nil || g.String() != s {
			t.Errorf("ParseGUID(%s) = %s, %v", s, g, err)
		}
	}
	// The first three fields are little-endian on disk.
	if g := GlobalVariable; g[0] != 0x61 || g[3] != 0x8b || g[4] != 0xca || g[8] != 0xaa {
		t.Errorf("EFI_GLOBAL_VARIABLE bytes % x", g[:])
	}
	if _, err := ParseGUID("not-a-guid"); err == nil {
		t.Error("ParseGUID accepted junk")
	}
}

func TestGenerateFiles(t *testing.T) {
	s := keySets(t)[0]
	for _, r := range Roles {
		for f, mode := range map[string]os.FileMode{KeyFile(r): 0o600, CertFile(r): 0o644, AuthFile(r): 0o644} {
			st, err := os.Stat(filepath.Join(s.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != mode {
				t.Errorf("%s mode %v, want %v", f, st.Mode().Perm(), mode)
			}
		}
	}
	if _, err := Generate(s.Dir, "again", DefaultBits, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("Generate over an existing key set: %v", err)
	}
	if _, err := Generate(t.TempDir(), "x", 1024, time.Now()); err == nil {
		t.Error("Generate accepted a 1024-bit key")
	}
	if !s.PK.Cert.IsCA || !s.KEK.Cert.IsCA || s.DB.Cert.IsCA {
		t.Error("PK and KEK should be CA certificates, db not")
	}
}

func TestLoadChecksChain(t *testing.T) {
	s := keySets(t)
	got, err := Load(s[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AuthDB, s[0].AuthDB) || got.Owner != s[0].Owner || !got.AuthTime.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Error("Load does not give back what Generate made")
	}
	cases := map[string]func(dir string){
		"db.auth from another chain": func(dir string) { copyFile(t, filepath.Join(s[1].Dir, "db.auth"), filepath.Join(dir, "db.auth")) },
		"flipped byte in KEK.auth's list": func(dir string) {
			p := filepath.Join(dir, "KEK.auth")
			data, _ := os.ReadFile(p)
			data[len(data)-1] ^= 1
			os.WriteFile(p, data, 0o644)
		},
		"db.crt from another chain": func(dir string) { copyFile(t, filepath.Join(s[1].Dir, "db.crt"), filepath.Join(dir, "db.crt")) },
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, r := range Roles {
				for _, f := range []string{KeyFile(r), CertFile(r), AuthFile(r)} {
					copyFile(t, filepath.Join(s[0].Dir, f), filepath.Join(dir, f))
				}
			}
			spoil(dir)
			if _, err := Load(dir); err == nil {
				t.Error("Load accepted a broken key set")
			}
		})
	}
}

// TestAuthWithOpenSSL checks each .auth file's layout with our parser,
// its certificate with openssl x509, and its PKCS#7 signature with
// openssl cms against the signer the UEFI spec requires (PK signs PK
// and KEK, KEK signs db), and that the wrong signer is refused.
func TestAuthWithOpenSSL(t *testing.T) {
	need(t, "openssl")
	s := keySets(t)[0]
	cases := []struct {
		role           string
		vendor         GUID
		own, signer    string
		wrongSigner    string
		wantOwnerCount int
	}{
		{"PK", GlobalVariable, "PK", "PK", "KEK", 1},
		{"KEK", GlobalVariable, "KEK", "PK", "db", 1},
		{"db", ImageSecurityDatabase, "db", "KEK", "PK", 1},
	}
	for _, c := range cases {
		t.Run(c.role, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(s.Dir, AuthFile(c.role)))
			if err != nil {
				t.Fatal(err)
			}
			a, err := ParseAuth(data)
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := ParseSignatureLists(a.Data)
			if err != nil || len(sigs) != c.wantOwnerCount {
				t.Fatalf("signature lists: %v, %d entries", err, len(sigs))
			}
			if sigs[0].Type != CertX509 || sigs[0].Owner != s.Owner {
				t.Errorf("entry type %s owner %s", sigs[0].Type, sigs[0].Owner)
			}
			dir := t.TempDir()
			der := filepath.Join(dir, "entry.der")
			os.WriteFile(der, sigs[0].Data, 0o644)
			subj := run(t, "openssl", "x509", "-inform", "DER", "-in", der, "-noout", "-subject")
			if !strings.Contains(subj, "Secure Boot "+c.own) {
				t.Errorf("list holds %q, want the %s certificate", subj, c.own)
			}
			ci, err := WrapContentInfo(a.SignedData)
			if err != nil {
				t.Fatal(err)
			}
			p7, msg := filepath.Join(dir, "sig.p7"), filepath.Join(dir, "msg")
			os.WriteFile(p7, ci, 0o644)
			os.WriteFile(msg, signedMessage(c.role, c.vendor, KeyVarAttributes, data[:16], a.Data), 0o644)
			verify := func(ca string) error {
				out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7,
					"-content", msg, "-CAfile", filepath.Join(s.Dir, CertFile(ca)), "-purpose", "any", "-out", os.DevNull).CombinedOutput()
				if err != nil {
					return &exec.ExitError{Stderr: out}
				}
				return nil
			}
			if err := verify(c.signer); err != nil {
				t.Errorf("openssl cms -verify with %s: %s", c.signer, err.(*exec.ExitError).Stderr)
			}
			if verify(c.wrongSigner) == nil {
				t.Errorf("openssl accepted %s.auth with %s as the trust anchor", c.role, c.wrongSigner)
			}
		})
	}
}

func TestSignPE(t *testing.T) {
	need(t, "osslsigncode")
	s := keySets(t)
	pe, err := os.ReadFile("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
	if err != nil {
		t.Fatalf("systemd-boot-efi is needed for this test (scripts/deps.sh): %v", err)
	}
	when := time.Unix(1700000000, 0)
	a, err := s[0].SignPE(pe, when)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s[0].SignPE(pe, when)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("signing the same file twice gave different bytes")
	}
	f := filepath.Join(t.TempDir(), "signed.efi")
	os.WriteFile(f, a, 0o644)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(s[0].Dir, "db.crt"), "-in", f).CombinedOutput(); err != nil {
		t.Errorf("osslsigncode verify with db.crt: %v\n%s", err, out)
	}
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(s[1].Dir, "db.crt"), "-in", f).CombinedOutput(); err == nil {
		t.Errorf("osslsigncode verify accepted another chain's db.crt:\n%s", out)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
