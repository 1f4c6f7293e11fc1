package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
)

func TestDiskImageSignedRoundTrip(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	d := DiskImage{Format: DiskImageFormat, Name: "m", Version: "1.0.0", VerityRoot: strings.Repeat("a", 64), SHA256: strings.Repeat("b", 64), Size: 1 << 20}
	sig, err := SignBytes(DiskImageContext, d.Canonical(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBytes(DiskImageContext, d.Canonical(), sig, []ed25519.PublicKey{pub}); err != nil {
		t.Fatal(err)
	}
	// Not valid as a release record signature, nor over other bytes.
	if err := VerifyBytes(signedContext, d.Canonical(), sig, []ed25519.PublicKey{pub}); err == nil {
		t.Error("a disk image signature verified as a record signature")
	}
	other := d
	other.Size++
	if err := VerifyBytes(DiskImageContext, other.Canonical(), sig, []ed25519.PublicKey{pub}); err == nil {
		t.Error("signature verified over another description")
	}
	got, err := ParseDiskImage(d.Canonical())
	if err != nil || *got != d {
		t.Errorf("ParseDiskImage = %+v, %v", got, err)
	}
	for _, bad := range []string{`{"format":"imgbuild-disk-image/2"}`, `{"format":"imgbuild-disk-image/1","sha256":"x","size":1}`, `nonsense`} {
		if _, err := ParseDiskImage([]byte(bad)); err == nil {
			t.Errorf("ParseDiskImage(%s) accepted", bad)
		}
	}
}
