package contract

import (
	"fmt"
	"strings"
)

// Kernel command-line keys of a boot entry (docs/layout.md).
const (
	KeySlot   = "imgbuild.slot"   // a or b
	KeyUSR    = "imgbuild.usr"    // PARTUUID=<uuid> of the slot's USR
	KeyRoot   = "imgbuild.root"   // PARTUUID=<uuid> of ROOT
	KeyESP    = "imgbuild.esp"    // PARTUUID=<uuid> of the ESP
	KeyVerity = "imgbuild.verity" // USR's root hash, for humans; must match the record
	KeyDebug  = "imgbuild.debug"  // shell: a shell instead of power-off on failure
)

// BaseArgs come first on every entry's command line. quiet keeps the
// kernel's informational lines off the serial console, which under
// emulation costs boot time (errors still show; a manifest's
// loglevel=7 brings the rest back); stage-1's and sysinit's lines are
// written to /dev/console and always show.
//
// cryptomgr.notests skips the crypto self-tests the kernel runs on
// every algorithm it registers, 0.35 s of a TCG boot (crypto_algapi_init
// and the KDF test alone) plus each module stage-1 loads. What the image
// relies on fails closed without them: a broken sha256 makes dm-verity
// reject USR, not accept it. fips=1 runs the tests regardless.
var BaseArgs = []string{"console=ttyS0,115200", "panic=10", "quiet", "cryptomgr.notests"}

// Cmdline is what the booted system takes from the kernel command line.
// The builder writes it with Args; stage-1 reads it with ParseCmdline.
type Cmdline struct {
	Slot       string // "a" or "b"
	USR        string // PARTUUID of the slot's USR, lower case
	Root       string // PARTUUID of ROOT
	ESP        string // PARTUUID of the ESP, where the release record lives
	Verity     string // root hash in hex; "" when not given
	DebugShell bool
}

// Args is the command line's imgbuild keys in the order entries carry them.
func (c Cmdline) Args() []string {
	args := []string{KeySlot + "=" + c.Slot, KeyUSR + "=PARTUUID=" + c.USR,
		KeyRoot + "=PARTUUID=" + c.Root, KeyESP + "=PARTUUID=" + c.ESP}
	if c.Verity != "" {
		args = append(args, KeyVerity+"="+c.Verity)
	}
	if c.DebugShell {
		args = append(args, KeyDebug+"=shell")
	}
	return args
}

// ParseCmdline reads the imgbuild.* keys from /proc/cmdline's content,
// the last of a key winning as in the kernel. Other keys belong to the
// kernel or to other programs and are ignored.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	for _, f := range strings.Fields(s) {
		key, val, _ := strings.Cut(f, "=")
		var err error
		switch key {
		case KeySlot:
			c.Slot = val
		case KeyUSR:
			c.USR, err = partUUID(key, val)
		case KeyRoot:
			c.Root, err = partUUID(key, val)
		case KeyESP:
			c.ESP, err = partUUID(key, val)
		case KeyVerity:
			c.Verity, err = rootHash(key, val)
		case KeyDebug:
			c.DebugShell = val == "shell"
		}
		if err != nil {
			return Cmdline{}, err
		}
	}
	switch {
	case c.Slot != "a" && c.Slot != "b":
		return Cmdline{}, fmt.Errorf("%s=%q: want a or b", KeySlot, c.Slot)
	case c.USR == "":
		return Cmdline{}, fmt.Errorf("%s= missing", KeyUSR)
	case c.Root == "":
		return Cmdline{}, fmt.Errorf("%s= missing", KeyRoot)
	}
	return c, nil
}

// Param returns the value of key=value on a kernel command line, the
// last one winning as in the kernel; ok is false when absent.
func Param(cmdline, key string) (value string, ok bool) {
	for _, f := range strings.Fields(cmdline) {
		if k, v, found := strings.Cut(f, "="); found && k == key {
			value, ok = v, true
		}
	}
	return value, ok
}

// partUUID takes "PARTUUID=<uuid>" and returns the uuid in lower case.
func partUUID(key, val string) (string, error) {
	u, ok := strings.CutPrefix(val, "PARTUUID=")
	if !ok {
		return "", fmt.Errorf("%s=%q: want PARTUUID=<uuid>", key, val)
	}
	u = strings.ToLower(u)
	if !ValidUUID(u) {
		return "", fmt.Errorf("%s=%q: malformed UUID", key, val)
	}
	return u, nil
}

// rootHash takes a sha256 root hash in hex and returns it in lower case.
func rootHash(key, val string) (string, error) {
	h := strings.ToLower(val)
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%s=%q: want 64 hex digits (a sha256 root hash)", key, val)
	}
	return h, nil
}

// ValidUUID says whether u is a lower-case 8-4-4-4-12 hex UUID.
func ValidUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i, r := range u {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", r) {
				return false
			}
		}
	}
	return true
}
