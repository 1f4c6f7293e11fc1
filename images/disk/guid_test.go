package disk

import (
	"regexp"
	"testing"
)

func TestGUID(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a := GUID("minimal 1.0", "USR-A")
	if !form.MatchString(a) {
		t.Errorf("GUID %q is not a lower-case version-5 RFC 4122 GUID", a)
	}
	if b := GUID("minimal 1.0", "USR-A"); a != b {
		t.Errorf("GUID not stable: %s then %s", a, b)
	}
	for _, other := range []string{GUID("minimal 1.0", "USR-B"), GUID("minimal 1.1", "USR-A"), GUID("minimal 1.0USR-A", "")} {
		if other == a {
			t.Errorf("different inputs gave the same GUID %s", a)
		}
	}
}

func TestUSRAttributes(t *testing.T) {
	tests := []struct {
		prio, tries int
		ok          bool
		want        uint64
	}{
		{1, 0, true, 0x0101000000000000},
		{0, 0, false, 0},
		{15, 15, false, 0x00ff000000000000},
		{2, 3, true, 0x0132000000000000},
	}
	for _, tt := range tests {
		if got := USRAttributes(tt.prio, tt.tries, tt.ok); got != tt.want {
			t.Errorf("USRAttributes(%d, %d, %v) = %#x, want %#x", tt.prio, tt.tries, tt.ok, got, tt.want)
		}
	}
}
