package updater

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/sign"
)

// Agent updates one machine. On the image, Open fills it from the
// running system; tests point it at files.
type Agent struct {
	ESP        string // the mounted ESP's root directory
	Disk       string // the whole disk holding both USR partitions
	SectorSize int64  // the disk's logical sector size
	Slot       string // the booted slot, "a" or "b"
	StateDir   string // contract.UpdateStateDir on ROOT
	// TrialFailure is where a failed trial boot left its reason
	// (contract.TrialFailure).
	TrialFailure string
	Keys         []ed25519.PublicKey // trusted release keys (contract.USRKeysDir)
	MachineID    string              // contract.MachineID; made on first use
	// BootID names this boot (the kernel's random boot_id): a release
	// installed in this same boot still waits for its reboot.
	BootID   string
	Pin      string   // update.pin: install at most this version
	Reporter Reporter // Omaha events; nil: none
	// OmahaTimeout bounds one exchange with the Omaha server; 0 is
	// omahaTimeout. Tests shorten it.
	OmahaTimeout time.Duration
	// Logf prints one console line; nil: silent.
	Logf func(format string, args ...any)
	// crash, in tests, stops Install after the named write step as a
	// power cut would.
	crash func(step string) bool
}

func (a *Agent) logf(format string, args ...any) {
	if a.Logf != nil {
		a.Logf(format, args...)
	}
}

// Passive is the slot an update writes.
func (a *Agent) Passive() string { return contract.OtherSlot(a.Slot) }

// Running reads the booted slot's release record from the ESP and checks
// its signature: name, arch and version of an update are compared with
// it.
func (a *Agent) Running() (*sign.Record, error) {
	raw, err := os.ReadFile(filepath.Join(a.ESP, filepath.FromSlash(contract.RecordPath(a.Slot))))
	if err != nil {
		return nil, fmt.Errorf("agent: running release: %w", err)
	}
	sig, err := os.ReadFile(filepath.Join(a.ESP, filepath.FromSlash(contract.SigPath(a.Slot))))
	if errors.Is(err, fs.ErrNotExist) {
		// Stage-1 booted it, so the initramfs allowed an unsigned
		// record; it still names what is running.
		return sign.ParseRecord(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: running release: %w", err)
	}
	rec, err := sign.Verify(raw, sig, a.Keys)
	if err != nil {
		return nil, fmt.Errorf("agent: running release %s: %w", contract.RecordPath(a.Slot), err)
	}
	return rec, nil
}

// partition returns a slot's GPT entry and the table it came from.
func (a *Agent) partition(slot string) (gpt.Entry, *gpt.Table, error) {
	p, err := contract.USR(slot)
	if err != nil {
		return gpt.Entry{}, nil, err
	}
	f, err := os.Open(a.Disk)
	if err != nil {
		return gpt.Entry{}, nil, fmt.Errorf("agent: %w", err)
	}
	defer f.Close()
	t, err := gpt.Read(f, a.SectorSize)
	if err != nil {
		return gpt.Entry{}, nil, fmt.Errorf("agent: %s: %w", a.Disk, err)
	}
	for _, e := range t.Entries() {
		if e.Number == p.Number {
			return e, t, nil
		}
	}
	return gpt.Entry{}, nil, fmt.Errorf("agent: %s has no partition %d (%s)", a.Disk, p.Number, p.Label)
}

// partitionBytes is the size and offset of a GPT entry.
func (a *Agent) partitionBytes(e gpt.Entry) (offset, size int64) {
	return int64(e.FirstLBA) * a.SectorSize, int64(e.LastLBA-e.FirstLBA+1) * a.SectorSize
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
