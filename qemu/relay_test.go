package qemu

import (
	"os"
	"strings"
	"testing"
)

func TestRelayFwd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err := RelayFwd("10.0.2.100:80", "127.0.0.1:4321")
	if strings.ContainsAny(exe, ", ") {
		if err == nil {
			t.Fatalf("RelayFwd with executable %q: no error", exe)
		}
		return
	}
	want := "tcp:10.0.2.100:80-cmd:env " + RelayEnv + "=127.0.0.1:4321 " + exe
	if err != nil || got != want {
		t.Errorf("RelayFwd = %q, %v; want %q", got, err, want)
	}
	if _, err := RelayFwd("10.0.2.100:80", "127.0.0.1:1, x"); err == nil {
		t.Error("an address with a comma: no error")
	}
}
