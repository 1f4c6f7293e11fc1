package secureboot

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// SignPE Authenticode-signs an EFI program (PE32+) with the db key,
// through osslsigncode. The signing time is pinned to signTime (the
// build's SOURCE_DATE_EPOCH) and no timestamp server is asked, and
// RSA PKCS#1 v1.5 signatures are deterministic, so the same input and
// key give the same signed file.
func (s *KeySet) SignPE(pe []byte, signTime time.Time) ([]byte, error) {
	tool, err := exec.LookPath("osslsigncode")
	if err != nil {
		return nil, fmt.Errorf("secureboot: osslsigncode is needed to sign EFI programs (apt-get install osslsigncode): %w", err)
	}
	tmp, err := os.MkdirTemp("", "imgbuild-sign-")
	if err != nil {
		return nil, fmt.Errorf("secureboot: %w", err)
	}
	defer os.RemoveAll(tmp)
	in, out := filepath.Join(tmp, "in.efi"), filepath.Join(tmp, "out.efi")
	if err := os.WriteFile(in, pe, 0o600); err != nil {
		return nil, fmt.Errorf("secureboot: %w", err)
	}
	cmd := exec.Command(tool, "sign", "-h", "sha256",
		"-certs", filepath.Join(s.Dir, CertFile("db")), "-key", filepath.Join(s.Dir, KeyFile("db")),
		"-time", strconv.FormatInt(signTime.Unix(), 10), "-in", in, "-out", out)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("secureboot: osslsigncode sign: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("secureboot: %w", err)
	}
	return signed, nil
}
