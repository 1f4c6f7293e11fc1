package archive

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+deb12u1", -1},
		{"252.38-1~deb12u1", "252.39-1~deb12u2", -1},
		{"6.1.192-3", "6.1.176-1", 1},
		{"6.1.192-2", "6.1.192-3", -1},
		{"1.35.0-4+deb12u1+b1", "1.35.0-4+deb12u1", 1},
		{"1.10", "1.9", 1},
		{"1.0-1", "1.0-1.1", -1},
		{"1.0a", "1.0+", -1},
		{"0:1.0", "1.0", 0},
		{"1.01", "1.1", 0},
	} {
		got := CompareVersions(tt.a, tt.b)
		if (got < 0) != (tt.want < 0) || (got > 0) != (tt.want > 0) {
			t.Errorf("CompareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
		if rev := CompareVersions(tt.b, tt.a); (rev < 0) != (tt.want > 0) || (rev > 0) != (tt.want < 0) {
			t.Errorf("CompareVersions(%q, %q) = %d, not the reverse", tt.b, tt.a, rev)
		}
	}
}
