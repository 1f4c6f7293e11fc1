package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

const (
	efiDir      = "/sys/firmware/efi"
	efivarsDir  = efiDir + "/efivars"
	secureBoot  = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
	efivarsType = "efivarfs"
)

// secureBootState reports whether the firmware booted us with Secure
// Boot on, from the SecureBoot variable (4 bytes of attributes, then
// one byte 0 or 1). efivarfs stays mounted (read-only) for sysinit.
func secureBootState() (string, error) {
	if _, err := os.Stat(efiDir); errors.Is(err, fs.ErrNotExist) {
		return "disabled (not booted through UEFI)", nil
	}
	err := unix.Mount(efivarsType, efivarsDir, efivarsType, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, "")
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return "", fmt.Errorf("mount efivarfs: %w", err)
	}
	return parseSecureBootVar(os.ReadFile(efivarsDir + "/" + secureBoot))
}

func parseSecureBootVar(data []byte, err error) (string, error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "disabled (no SecureBoot variable)", nil
	case err != nil:
		return "", err
	case len(data) != 5:
		return "", fmt.Errorf("SecureBoot variable has %d bytes, want 5", len(data))
	case data[4] == 1:
		return "enabled", nil
	default:
		return "disabled", nil
	}
}

// trialBoot mounts efivarfs when an early failure came before
// secureBootState did, and asks whether systemd-boot counted this boot.
func trialBoot() bool {
	if _, err := os.Stat(efiDir); err != nil {
		return false
	}
	if err := unix.Mount(efivarsType, efivarsDir, efivarsType, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return false
	}
	return contract.TrialBoot(efivarsDir)
}
