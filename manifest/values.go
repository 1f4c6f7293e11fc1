package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Size is a byte count written as 512, 64KiB, 96MiB or 2GiB.
type Size int64

// ParseSize reads a size with an optional binary unit.
func ParseSize(s string) (Size, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a whole number of bytes with an optional unit (KiB, MiB, GiB), e.g. 256MiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return Size(n * mult), nil
}

func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	*s = v
	return err
}

func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", s>>30)
	case s != 0 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	}
	return fmt.Sprintf("%dB", int64(s))
}

// Duration is a Go duration string such as 500ms or 2s.
type Duration time.Duration

func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q: want e.g. 500ms, 2s or 1m", s)
	}
	return Duration(d), nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	*d = v
	return err
}

// Mode is a permission mode written in octal, such as 0644 or 04755.
type Mode uint32

func parseMode(s string) (Mode, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || v > 07777 {
		return 0, fmt.Errorf("bad mode %q: want octal permission bits such as 0644 or 04755", s)
	}
	return Mode(v), nil
}

func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseMode(n.Value)
	*m = v
	return err
}

// maxID is the largest usable uid or gid: (uid_t)-1, 4294967295, means
// "no change" to chown and setuid, so no file or process can own it.
const maxID = 1<<32 - 2

// ParseOwner reads a file owner written as uid:gid, such as 0:0 or 1000:100.
func ParseOwner(s string) (uid, gid uint32, err error) {
	if !ownerRE.MatchString(s) {
		return 0, 0, errors.New("want uid:gid such as 0:0")
	}
	u, g, _ := strings.Cut(s, ":")
	uv, err := parseID("uid", u)
	if err != nil {
		return 0, 0, err
	}
	gv, err := parseID("gid", g)
	if err != nil {
		return 0, 0, err
	}
	return uv, gv, nil
}

func parseID(what, s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > maxID {
		return 0, fmt.Errorf("%s %s is out of range (0 to %d)", what, s, maxID)
	}
	return uint32(v), nil
}
