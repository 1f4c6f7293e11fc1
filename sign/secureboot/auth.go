package secureboot

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// Variable attributes of the Secure Boot key variables.
const (
	attrNonVolatile   = 0x1
	attrBootService   = 0x2
	attrRuntime       = 0x4
	attrTimeBasedAuth = 0x20
	// KeyVarAttributes are NV+BS+RT+time-based authenticated write.
	KeyVarAttributes = attrNonVolatile | attrBootService | attrRuntime | attrTimeBasedAuth

	winCertTypeEFIGUID = 0x0EF1
	winCertRevision    = 0x0200
)

// efiTime is EFI_TIME with the fields an authenticated variable's
// timestamp must leave zero (nanoseconds, zone, daylight) zero.
func efiTime(t time.Time) []byte {
	t = t.UTC()
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], uint16(t.Year()))
	b[2], b[3], b[4], b[5], b[6] = byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	return b
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	return b
}

// signedMessage is what an EFI_VARIABLE_AUTHENTICATION_2 signature
// covers: name (UTF-16, no NUL) || vendor GUID || attributes ||
// timestamp || data.
func signedMessage(name string, vendor GUID, attrs uint32, ts, data []byte) []byte {
	var m bytes.Buffer
	m.Write(utf16le(name))
	m.Write(vendor[:])
	binary.Write(&m, binary.LittleEndian, attrs)
	m.Write(ts)
	m.Write(data)
	return m.Bytes()
}

// AuthVar builds a time-based authenticated variable write (the .auth
// file format of efitools' sign-efi-sig-list): an
// EFI_VARIABLE_AUTHENTICATION_2 header signed by signer, then data.
func AuthVar(name string, vendor GUID, data []byte, ts time.Time, signer *x509.Certificate, key *rsa.PrivateKey) ([]byte, error) {
	stamp := efiTime(ts)
	sig, err := SignDetached(signedMessage(name, vendor, KeyVarAttributes, stamp, data), signer, key)
	if err != nil {
		return nil, fmt.Errorf("secureboot: %s.auth: %w", name, err)
	}
	var out bytes.Buffer
	out.Write(stamp)
	binary.Write(&out, binary.LittleEndian, uint32(8+16+len(sig)))
	binary.Write(&out, binary.LittleEndian, uint16(winCertRevision))
	binary.Write(&out, binary.LittleEndian, uint16(winCertTypeEFIGUID))
	out.Write(CertTypePKCS7[:])
	out.Write(sig)
	out.Write(data)
	return out.Bytes(), nil
}

// Auth is a parsed .auth file.
type Auth struct {
	Time       time.Time
	SignedData []byte // bare PKCS#7 SignedData
	Data       []byte // the variable's new value (signature lists)
	stamp      []byte
}

// ParseAuth splits an EFI_VARIABLE_AUTHENTICATION_2 write into its parts.
func ParseAuth(b []byte) (*Auth, error) {
	if len(b) < 16+24 {
		return nil, fmt.Errorf("secureboot: auth: %d bytes is too short", len(b))
	}
	length := binary.LittleEndian.Uint32(b[16:])
	rev := binary.LittleEndian.Uint16(b[20:])
	typ := binary.LittleEndian.Uint16(b[22:])
	if rev != winCertRevision || typ != winCertTypeEFIGUID || !bytes.Equal(b[24:40], CertTypePKCS7[:]) {
		return nil, fmt.Errorf("secureboot: auth: not a WIN_CERTIFICATE_UEFI_GUID with PKCS#7 (revision %#x, type %#x)", rev, typ)
	}
	if length < 24 || int64(16)+int64(length) > int64(len(b)) {
		return nil, fmt.Errorf("secureboot: auth: certificate length %d out of range", length)
	}
	t := time.Date(int(binary.LittleEndian.Uint16(b)), time.Month(b[2]), int(b[3]), int(b[4]), int(b[5]), int(b[6]), 0, time.UTC)
	return &Auth{Time: t, SignedData: b[40 : 16+length], Data: b[16+length:], stamp: b[:16]}, nil
}

// Verify checks that signer signed this write of variable name.
func (a *Auth) Verify(name string, vendor GUID, signer *x509.Certificate) error {
	return VerifyDetached(a.SignedData, signedMessage(name, vendor, KeyVarAttributes, a.stamp, a.Data), signer)
}
