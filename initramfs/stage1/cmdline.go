package main

import (
	"fmt"
	"strings"
)

// config is what stage-1 takes from the kernel command line (layout.md).
type config struct {
	Slot       string // "a" or "b"
	USR        string // PARTUUID of the USR slot, lower case
	Root       string // PARTUUID of ROOT
	ESP        string // PARTUUID of the ESP, where the release record lives
	Verity     string // imgbuild.verity=: root hash for humans; must match the signed record
	DebugShell bool
}

// parseCmdline reads the imgbuild.* keys from /proc/cmdline's content.
// Other keys belong to the kernel or sysinit and are ignored.
func parseCmdline(s string) (config, error) {
	var c config
	for _, f := range strings.Fields(s) {
		key, val, _ := strings.Cut(f, "=")
		var err error
		switch key {
		case "imgbuild.slot":
			c.Slot = val
		case "imgbuild.usr":
			c.USR, err = partUUID(key, val)
		case "imgbuild.root":
			c.Root, err = partUUID(key, val)
		case "imgbuild.esp":
			c.ESP, err = partUUID(key, val)
		case "imgbuild.verity":
			c.Verity, err = rootHash(key, val)
		case "imgbuild.debug":
			c.DebugShell = val == "shell"
		}
		if err != nil {
			return config{}, err
		}
	}
	switch {
	case c.Slot != "a" && c.Slot != "b":
		return config{}, fmt.Errorf("imgbuild.slot=%q: want a or b", c.Slot)
	case c.USR == "":
		return config{}, fmt.Errorf("imgbuild.usr= missing")
	case c.Root == "":
		return config{}, fmt.Errorf("imgbuild.root= missing")
	}
	return c, nil
}

// partUUID takes "PARTUUID=<uuid>" and returns the uuid in lower case.
func partUUID(key, val string) (string, error) {
	u, ok := strings.CutPrefix(val, "PARTUUID=")
	if !ok {
		return "", fmt.Errorf("%s=%q: want PARTUUID=<uuid>", key, val)
	}
	u = strings.ToLower(u)
	if !validUUID(u) {
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

func validUUID(u string) bool {
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
