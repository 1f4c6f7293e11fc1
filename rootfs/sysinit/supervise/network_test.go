package supervise

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// A service without network: true starts while DHCP runs; one with it
// waits until network setup is over.
func TestNetworkServicesWaitForNetwork(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "started")
	buf := &syncBuffer{}
	con := NewConsole(buf)
	netDone := make(chan struct{})
	sup, err := New([]contract.Service{
		sh("local", "echo local >> "+log+"; sleep 30"),
		sh("online", "echo online >> "+log+"; sleep 30", func(s *contract.Service) { s.Network = true }),
	}, Options{Console: con, Reaper: sharedReaper(), BaseEnv: []string{"PATH=/usr/bin:/bin"}, Network: netDone})
	if err != nil {
		t.Fatal(err)
	}
	sup.Start(context.Background())
	t.Cleanup(func() { sup.Stop(2 * time.Second) })

	select {
	case <-sup.Ready("local"):
	case <-time.After(5 * time.Second):
		t.Fatalf("local did not start while the network was down:\n%s", buf.String())
	}
	time.Sleep(300 * time.Millisecond) // time enough for online to start, were it not held
	if b, _ := os.ReadFile(log); strings.Contains(string(b), "online") {
		t.Fatalf("online started before the network was up: %q", b)
	}
	select {
	case <-sup.Healthy():
		t.Fatal("healthy while a service still waits for the network")
	default:
	}
	close(netDone)
	select {
	case <-sup.Healthy():
	case <-time.After(5 * time.Second):
		t.Fatalf("online never started after the network came up:\n%s", buf.String())
	}
}
