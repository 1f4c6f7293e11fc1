package netup

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// dhcpServer is a DHCP server on the far end of a veth pair, in a
// network namespace of its own: it offers one address for a short
// lease and counts the renewals, and can be silenced.
type dhcpServer struct {
	answer   atomic.Bool
	renewals atomic.Int32
	lease    time.Duration
}

func (d *dhcpServer) handle(conn net.PacketConn, _ net.Addr, m *dhcpv4.DHCPv4) {
	if !d.answer.Load() {
		return
	}
	var kind dhcpv4.MessageType
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		kind = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		kind = dhcpv4.MessageTypeAck
		if !m.ClientIPAddr.IsUnspecified() {
			d.renewals.Add(1)
		}
	default:
		return
	}
	srv := net.IPv4(192, 168, 77, 1).To4()
	reply, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(kind),
		dhcpv4.WithYourIP(net.IPv4(192, 168, 77, 50)), dhcpv4.WithServerIP(srv),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srv)),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(d.lease)))
	if err != nil {
		return
	}
	// As servers do (RFC 2131 4.1): to a client's address when it has
	// one (renewing, rebinding), else broadcast.
	to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	if !m.ClientIPAddr.IsUnspecified() {
		to.IP = m.ClientIPAddr
	}
	_, _ = conn.WriteTo(reply.ToBytes(), to)
}

// TestKeeper runs the keeper against a real DHCP exchange over a veth
// pair: no answer at first, then a lease it renews past its end, then a
// server gone until the kernel drops the address, then a server back.
func TestKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 15 s of leases")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: a veth pair and a network namespace")
	}
	dhcpTries, dhcpTryTimeout = 2, 300*time.Millisecond
	n := os.Getpid() % 10000
	cli, srvIf, ns := fmt.Sprintf("ibkc%d", n), fmt.Sprintf("ibks%d", n), fmt.Sprintf("imgbuild-keep-%d", n)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", cli, "type", "veth", "peer", "name", srvIf)
	t.Cleanup(func() { exec.Command("ip", "link", "del", cli).Run() })
	ip("link", "set", srvIf, "netns", ns)
	ip("-n", ns, "addr", "add", "192.168.77.1/24", "dev", srvIf)
	ip("-n", ns, "link", "set", srvIf, "up")

	d := &dhcpServer{lease: 4 * time.Second}
	server := func() *server4.Server {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			t.Fatal(err)
		}
		defer netns.Set(orig)
		// The socket stays in the namespace it was made in.
		s, err := server4.NewServer(srvIf, &net.UDPAddr{Port: dhcpv4.ServerPort}, d.handle)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	go server.Serve()
	t.Cleanup(func() { server.Close() })

	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
		t.Logf(format, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := NewKeeper(ctx, logf)
	k.Retry, k.RetryMax, k.Floor = 400*time.Millisecond, time.Second, 200*time.Millisecond
	if _, err := k.DHCP(ctx, cli, ""); err == nil {
		t.Fatal("a silent server gave a lease")
	}
	k.Hold(cli, "")
	hasAddr := func() bool {
		link, err := netlink.LinkByName(cli)
		if err != nil {
			t.Fatal(err)
		}
		as, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		for _, a := range as {
			if a.IP.Equal(net.IPv4(192, 168, 77, 50)) {
				return true
			}
		}
		return false
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	time.Sleep(1500 * time.Millisecond)
	if k.Lease(cli) != nil || hasAddr() {
		t.Fatal("a lease from a silent server")
	}
	d.answer.Store(true)
	waitFor("a lease once the server answers", 15*time.Second, func() bool { return k.Lease(cli) != nil && hasAddr() })

	// Past two lease times, the address is still there: renewed.
	time.Sleep(2 * d.lease)
	if !hasAddr() || d.renewals.Load() < 2 {
		t.Fatalf("after %s: address %v, %d renewals; want it kept by two or more", 2*d.lease, hasAddr(), d.renewals.Load())
	}

	// A server gone: the kernel drops the address when the lease ends.
	d.answer.Store(false)
	waitFor("the address dropped at the lease's end", 3*d.lease, func() bool { return !hasAddr() })
	waitFor("the lease forgotten", 3*d.lease, func() bool { return k.Lease(cli) == nil })

	d.answer.Store(true)
	waitFor("a lease again", 15*time.Second, func() bool { return k.Lease(cli) != nil && hasAddr() })

	done := make(chan struct{})
	go func() { k.Drop(cli); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Drop did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"DHCP answered after", "ended unrenewed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no console line with %q in:\n%s", want, joined)
		}
	}
}
