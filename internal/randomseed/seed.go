// Package randomseed carries entropy from one boot to the next, as
// systemd-random-seed does: stage-1 feeds the seed saved on ROOT to the
// kernel before anything runs, and sysinit saves a new one once the
// kernel's pool is ready and again at shutdown. docs/security.md says
// when a seed is credited.
//
// The file is one flag byte (1: creditable, 0: not) and Size seed bytes.
// A seed is creditable only when its fresh half came from an initialized
// pool, and it is credited at most once: Load clears the flag on disk
// before it credits.
package randomseed

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Size is the seed length: the kernel's pool is 256 bits since Linux 5.18.
const Size = 32

const (
	notCreditable byte = 0
	creditable    byte = 1
)

// Kernel is the kernel's random device, faked by tests.
type Kernel interface {
	// Add mixes b into the pool, crediting creditBits of entropy.
	Add(b []byte, creditBits int) error
	// Read fills b without waiting and reports whether the pool was
	// initialized (so b is fit to credit on a later boot).
	Read(b []byte) (ready bool, err error)
}

// Loaded says what Load did, for the console.
type Loaded struct {
	Found    bool
	Credited bool
	// Why the seed was not credited, when Found and not Credited.
	Reason string
}

func (l Loaded) String() string {
	switch {
	case !l.Found:
		return "no random seed yet"
	case l.Credited:
		return fmt.Sprintf("random seed credited (%d bits)", 8*Size)
	}
	return "random seed mixed in, not credited: " + l.Reason
}

// Load feeds the seed at path to k. A missing seed is not an error.
func Load(path string, k Kernel) (Loaded, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Loaded{}, nil
	}
	if err != nil {
		return Loaded{}, fmt.Errorf("random seed: %w", err)
	}
	res := Loaded{Found: true}
	seed := b
	switch {
	case len(b) != 1+Size:
		res.Reason = fmt.Sprintf("%d bytes, not %d", len(b), 1+Size)
	case b[0] != creditable:
		seed = b[1:]
		res.Reason = "saved before the pool was ready, or already used"
	default:
		seed = b[1:]
		// Never credit the same seed twice: should this boot die before
		// Save replaces it, the next boot finds it marked used (the mark
		// is durable before the kernel is fed, fsutil's doc says how).
		if err := fsutil.WriteFile(path, append([]byte{notCreditable}, seed...), 0o600); err != nil {
			res.Reason = fmt.Sprintf("cannot mark it used: %v", err)
		} else {
			res.Credited = true
		}
	}
	credit := 0
	if res.Credited {
		credit = 8 * len(seed)
	}
	if err := k.Add(seed, credit); err != nil {
		return Loaded{Found: true}, fmt.Errorf("random seed: feed the kernel: %w", err)
	}
	return res, nil
}

// Save replaces the seed at path with the hash of the old seed and fresh
// bytes from k, so a new seed never has less entropy than the old one.
// It reports whether the new seed is creditable.
func Save(path string, k Kernel) (bool, error) {
	old, _ := os.ReadFile(path) // missing or unreadable: nothing to keep
	fresh := make([]byte, Size)
	ready, err := k.Read(fresh)
	if err != nil {
		return false, fmt.Errorf("random seed: read the kernel's pool: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("imgbuild random seed v1\x00"))
	h.Write(fresh)
	h.Write(old)
	flag := notCreditable
	if ready {
		flag = creditable
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("random seed: %w", err)
	}
	if err := fsutil.WriteFile(path, append([]byte{flag}, h.Sum(nil)...), 0o600); err != nil {
		return false, fmt.Errorf("random seed: %w", err)
	}
	return ready, nil
}
