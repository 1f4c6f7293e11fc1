package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/uki"
)

// ukiChecks compares what a Secure Boot image really boots, the UKI's
// sections, with the release record: the kernel and initramfs the
// record names, and a command line carrying the record's root hash.
// The UKI's Authenticode signature is the firmware's to check.
func ukiChecks(rec recordHashes, ukiPath string, img []byte) []Check {
	var checks []Check
	for _, s := range []struct{ section, want string }{{".linux", rec.kernel}, {".initrd", rec.initramfs}} {
		c := Check{Name: fmt.Sprintf("UKI %s sha256 (%s)", s.section, ukiPath), Expected: s.want}
		data, err := uki.SectionData(img, s.section)
		if err != nil {
			c.Actual, c.Err = "missing", err
		} else {
			sum := sha256.Sum256(data)
			c.Actual = hex.EncodeToString(sum[:])
			if c.Actual != s.want {
				c.Err = fmt.Errorf("the UKI's %s section does not match the release record", s.section)
			}
		}
		checks = append(checks, c)
	}
	want := contract.KeyVerity + "=" + rec.verityRoot
	c := Check{Name: fmt.Sprintf("UKI .cmdline (%s)", ukiPath), Expected: want}
	cmdline, err := uki.SectionData(img, ".cmdline")
	switch {
	case err != nil:
		c.Actual, c.Err = "missing", err
	case !strings.Contains(" "+strings.TrimRight(string(cmdline), "\x00")+" ", " "+want+" "):
		c.Actual, c.Err = strings.TrimRight(string(cmdline), "\x00"), fmt.Errorf("the UKI's command line does not carry the record's root hash")
	default:
		c.Actual = want
	}
	return append(checks, c)
}

type recordHashes struct{ kernel, initramfs, verityRoot string }
