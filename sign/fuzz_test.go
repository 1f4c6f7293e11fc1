package sign

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// fuzzKey is fixed, so that a crasher found once replays.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func FuzzParseRecord(f *testing.F) {
	r := sampleRecord()
	f.Add(r.Canonical())
	r.MinVersion, r.KernelArgs, r.UKI = "1.0.0", []string{"console=ttyS0", "quiet"}, map[string]string{"a": "x", "b": "y"}
	f.Add(r.Canonical())
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseRecord(data)
		if err != nil {
			return
		}
		// The canonical form is what a release signs and what the agent
		// rereads: it must parse, to the same canonical form.
		c := rec.Canonical()
		again, err := ParseRecord(c)
		if err != nil {
			t.Fatalf("canonical form of an accepted record refused: %v\n%s", err, c)
		}
		if c2 := again.Canonical(); !bytes.Equal(c, c2) {
			t.Errorf("canonical form changed on reparse:\n%s\n%s", c, c2)
		}
	})
}

func FuzzParseDiskImage(f *testing.F) {
	d := DiskImage{Format: DiskImageFormat, Name: "minimal", Version: "1.2.3", VerityRoot: "ab", SHA256: string(bytes.Repeat([]byte("a"), 64)), Size: 1 << 30}
	f.Add(d.Canonical())
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDiskImage(data)
		if err != nil {
			return
		}
		again, err := ParseDiskImage(d.Canonical())
		if err != nil || *again != *d {
			t.Errorf("round trip: %+v, %v; want %+v", again, err, d)
		}
	})
}

// FuzzVerify mutates the signature file of a record: whatever it holds,
// only the one true signature may verify, and every refusal is an
// ErrUnverified (the agent tells those from I/O errors).
func FuzzVerify(f *testing.F) {
	rec := sampleRecord().Canonical()
	good, err := Sign(sampleRecord(), fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(sigHeader + "\nkey-id x\ned25519 \n"))
	_, want, err := parseSignature(good)
	if err != nil {
		f.Fatal(err)
	}
	keys := []ed25519.PublicKey{fuzzKey.Public().(ed25519.PublicKey)}
	f.Fuzz(func(t *testing.T, sig []byte) {
		_, err := Verify(rec, sig, keys)
		if err != nil {
			if !errors.Is(err, ErrUnverified) {
				t.Errorf("refusal is not ErrUnverified: %v", err)
			}
			return
		}
		if _, raw, _ := parseSignature(sig); !bytes.Equal(raw, want) {
			t.Errorf("a signature other than the key's verified:\n%q", sig)
		}
	})
}
