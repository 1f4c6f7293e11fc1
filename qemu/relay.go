package qemu

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// A guest reaches a server on this machine (listening on 127.0.0.1 only)
// through a guestfwd rule whose cmd: runs a relay for each connection the
// guest opens, with the connection on the relay's stdin and stdout:
// QEMU's tcp: form connects once and serves a single connection. The
// relay is the program that made the rule, run again with RelayEnv set;
// it must call RelayAddr first thing in main (or TestMain, or init).

// RelayEnv carries the address a relay joins the guest's connection to.
const RelayEnv = "IMGBUILD_QEMU_RELAY"

// RelayAddr is the address this process is to relay to, or "" when it
// was not started as a relay.
func RelayAddr() string { return os.Getenv(RelayEnv) }

// Relay joins stdin and stdout to addr until both sides close, and
// returns the exit code: 1 when addr cannot be reached (the guest sees
// its connection close).
func Relay(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 1
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	return 0
}

// RelayFwd is a guestfwd rule (Config.GuestFwds) sending the guest's
// connections to guest (ip:port) to addr on this machine, through this
// executable run as a relay.
func RelayFwd(guest, addr string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("qemu: relay: %w", err)
	}
	// QEMU splits -netdev options at commas and cmd: at spaces.
	if strings.ContainsAny(exe+addr, ", \t") {
		return "", fmt.Errorf("qemu: relay: %q or %q cannot go into a guestfwd rule", exe, addr)
	}
	return fmt.Sprintf("tcp:%s-cmd:env %s=%s %s", guest, RelayEnv, addr, exe), nil
}
