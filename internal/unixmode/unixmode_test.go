package unixmode

import (
	"io/fs"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		unix uint32
		go_  fs.FileMode
	}{
		{0o644, 0o644},
		{0o4755, fs.ModeSetuid | 0o755},
		{0o2755, fs.ModeSetgid | 0o755},
		{0o1777, fs.ModeSticky | 0o777},
		{0o7000, fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky},
	}
	for _, tt := range tests {
		if got := ToFileMode(tt.unix); got != tt.go_ {
			t.Errorf("ToFileMode(%o) = %v, want %v", tt.unix, got, tt.go_)
		}
		if got := FromFileMode(tt.go_ | fs.ModeDir); got != tt.unix {
			t.Errorf("FromFileMode(%v) = %o, want %o", tt.go_, got, tt.unix)
		}
	}
	if got := ToFileMode(0o100644); got != 0o644 {
		t.Errorf("type bits leak: ToFileMode(0100644) = %v", got)
	}
}
