package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// loadHostKey reads the host key at path or, on a first boot, makes one
// and keeps it there. generated reports which happened.
func loadHostKey(path string, logf func(string, ...any)) (signer ssh.Signer, generated bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		signer, err = ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("host key %s: %w (delete it to make a new one)", path, err)
		}
		return signer, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	waitEntropy(logf)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("host key: generate: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	return signer, true, nil
}

// waitEntropy blocks until the kernel's pool is initialized: a host key
// drawn before that could repeat on every machine booted from the image.
func waitEntropy(logf func(string, ...any)) {
	buf := make([]byte, 1)
	if _, err := unix.Getrandom(buf, unix.GRND_NONBLOCK); err != unix.EAGAIN {
		return
	}
	logf("waiting for the kernel's entropy pool to make the host key")
	for {
		if _, err := unix.Getrandom(buf, 0); err != unix.EINTR {
			return
		}
	}
}

// writeFileAtomic writes data through the one atomic write: a crash
// leaves either no key or a whole one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(path, data, perm)
}
