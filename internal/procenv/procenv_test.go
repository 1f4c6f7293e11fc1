package procenv

import (
	"slices"
	"testing"
)

func TestDedup(t *testing.T) {
	got := Dedup([]string{"PATH=/bin", "HOME=/", "PATH=/usr/bin", "EMPTY=", "NOEQ", "HOME=/root"})
	want := []string{"PATH=/usr/bin", "EMPTY=", "NOEQ", "HOME=/root"}
	if !slices.Equal(got, want) {
		t.Errorf("Dedup = %q, want %q", got, want)
	}
}
