package updater

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
	"github.com/imgbuild/imgbuild/sign"
)

// Open finds the running system's disk and ESP from the kernel command
// line, mounts the ESP on a private directory below runDir and returns
// an agent for it; close unmounts. Each caller mounts for as long as it
// works, so the ESP is not mounted while the machine reboots.
func Open(cmdline []byte, runDir string, tree blockdev.Tree) (a *Agent, closeFn func() error, err error) {
	c, err := contract.ParseCmdline(string(cmdline))
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	if c.ESP == "" {
		return nil, nil, fmt.Errorf("agent: no %s= on the kernel command line", contract.KeyESP)
	}
	parts, err := tree.Scan()
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	usr, ok := parts[c.USR]
	esp, ok2 := parts[c.ESP]
	if !ok || !ok2 {
		return nil, nil, fmt.Errorf("agent: USR PARTUUID=%s or ESP PARTUUID=%s not found", c.USR, c.ESP)
	}
	ss, err := sectorSize(usr.Disk, tree)
	if err != nil {
		return nil, nil, err
	}
	keys, err := LoadKeys(contract.USRKeysDir)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	mnt, err := os.MkdirTemp(runDir, "esp-")
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	if err := unix.Mount(esp.Node, mnt, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077"); err != nil {
		os.Remove(mnt)
		return nil, nil, fmt.Errorf("agent: mount ESP %s: %w", esp.Node, err)
	}
	closeFn = func() error {
		unix.Sync()
		err := unix.Unmount(mnt, 0)
		os.Remove(mnt)
		if err != nil {
			return fmt.Errorf("agent: unmount ESP: %w", err)
		}
		return nil
	}
	a = &Agent{ESP: mnt, Disk: usr.Disk, SectorSize: ss, Slot: c.Slot, StateDir: contract.UpdateStateDir,
		TrialFailure: contract.TrialFailure, Keys: keys, MachineID: contract.MachineID, BootID: bootID()}
	return a, closeFn, nil
}

func sectorSize(disk string, tree blockdev.Tree) (int64, error) {
	f, err := os.Open(disk)
	if err != nil {
		return 0, fmt.Errorf("agent: %w", err)
	}
	defer f.Close()
	ss, err := tree.SectorSize(f)
	if err != nil {
		return 0, fmt.Errorf("agent: %s: %w", disk, err)
	}
	return ss, nil
}

// LoadKeys reads the trusted release keys (*.pub) of dir.
func LoadKeys(dir string) ([]ed25519.PublicKey, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var keys []ed25519.PublicKey
	for _, n := range names {
		k, err := sign.LoadPublic(n)
		if err != nil {
			return nil, fmt.Errorf("agent: trusted key %s: %w", n, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
