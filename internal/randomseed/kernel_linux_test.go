package randomseed

import (
	"bytes"
	"testing"
)

// The build host's pool is initialized long ago: Read must say so, and
// give bytes (crediting is left to the QEMU boot tests: it needs root
// and would credit known bytes on this host).
func TestLinuxReadOnReadyPool(t *testing.T) {
	if !Ready() {
		t.Skip("this host's entropy pool is not initialized")
	}
	b := make([]byte, Size)
	ready, err := Linux{}.Read(b)
	if err != nil || !ready {
		t.Fatalf("Read = %v, %v", ready, err)
	}
	if bytes.Equal(b, make([]byte, Size)) {
		t.Fatal("Read gave zeros")
	}
	if err := WaitReady(); err != nil {
		t.Fatal(err)
	}
}
