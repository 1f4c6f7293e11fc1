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

// BaseArgsFor is BaseArgs for an image of arch (a GOARCH): on arm64 the
// console is the PL011 UART of QEMU's virt machine (and of most arm64
// clouds' serial consoles), ttyAMA0.
func BaseArgsFor(arch string) []string {
	args := append([]string(nil), BaseArgs...)
	if arch == "arm64" {
		args[0] = "console=ttyAMA0,115200"
	}
	return args
}

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

// SlotArgs are the keys that name the slot an entry boots: they differ
// between slot A's and slot B's entry of one release, so a release's
// record cannot carry them.
func (c Cmdline) SlotArgs() []string {
	args := []string{KeySlot + "=" + c.Slot, KeyUSR + "=PARTUUID=" + c.USR}
	if c.Verity != "" {
		args = append(args, KeyVerity+"="+c.Verity)
	}
	return args
}

// SharedArgs are the imgbuild keys both slots' entries carry alike.
func (c Cmdline) SharedArgs() []string {
	args := []string{KeyRoot + "=PARTUUID=" + c.Root, KeyESP + "=PARTUUID=" + c.ESP}
	if c.DebugShell {
		args = append(args, KeyDebug+"=shell")
	}
	return args
}

// EntryArgs is the command line of a slot's boot entry: the release's
// kernel arguments (BaseArgs, SharedArgs, the manifest's additions: the
// record's kernel_args), then the slot's keys. The builder and the
// update agent both compose entries with it, so an entry reached by an
// update is the entry a build of that release writes. The slot's keys
// come last, where the kernel's last-one-wins would favour them anyway.
func EntryArgs(release []string, slot Cmdline) []string {
	return append(append([]string(nil), release...), slot.SlotArgs()...)
}

// CheckReleaseArgs refuses release kernel arguments that EntryArgs could
// not use as they are: empty or spaced arguments, which an options line
// would split differently, and keys that name a slot.
func CheckReleaseArgs(args []string) error {
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\r") {
			return fmt.Errorf("kernel argument %q: want one argument without spaces", a)
		}
		if k, _, _ := strings.Cut(a, "="); IsSlotKey(k) {
			return fmt.Errorf("kernel argument %q: %s names a slot and is set per slot entry, not by the release", a, k)
		}
	}
	return nil
}

// IsSlotKey says whether key is one of SlotArgs' keys.
func IsSlotKey(key string) bool {
	return key == KeySlot || key == KeyUSR || key == KeyVerity
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
