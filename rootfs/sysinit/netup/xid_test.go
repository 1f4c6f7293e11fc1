package netup

import (
	"bytes"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/sys/unix"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// The packets must be byte for byte what the library's own constructors
// build (on this host the pool is ready, so they do not block here),
// apart from the transaction id we choose.
func TestPacketsMatchLibrary(t *testing.T) {
	xid := dhcpv4.TransactionID{1, 2, 3, 4}
	lib, err := dhcpv4.NewDiscovery(testMAC, dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)),
		dhcpv4.WithTransactionID(xid))
	if err != nil {
		t.Fatal(err)
	}
	ours := Discover(testMAC, xid)
	if !bytes.Equal(ours.ToBytes(), lib.ToBytes()) {
		t.Errorf("DISCOVER differs from the library's:\nours %s\nlib  %s", ours.Summary(), lib.Summary())
	}

	offer, err := dhcpv4.NewReplyFromRequest(ours, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)), dhcpv4.WithServerIP(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 2))))
	if err != nil {
		t.Fatal(err)
	}
	libReq, err := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	req := Request(offer)
	if req.TransactionID != xid {
		t.Errorf("REQUEST xid %v, want the offer's %v", req.TransactionID, xid)
	}
	if !bytes.Equal(req.ToBytes(), libReq.ToBytes()) {
		t.Errorf("REQUEST differs from the library's:\nours %s\nlib  %s", req.Summary(), libReq.Summary())
	}
}

func TestTransactionIDNeverBlocks(t *testing.T) {
	defer func(g func([]byte, int) (int, error)) { getrandom = g }(getrandom)
	var flags []int
	getrandom = func(b []byte, f int) (int, error) {
		flags = append(flags, f)
		return 0, unix.EINVAL // a kernel before 5.6: no GRND_INSECURE
	}
	a := TransactionID(testMAC)
	b := TransactionID(net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x57})
	if a == b {
		t.Errorf("two MACs got the same fallback xid %v", a)
	}
	if len(flags) != 2 || flags[0] != unix.GRND_INSECURE {
		t.Errorf("getrandom flags = %v, want GRND_INSECURE only", flags)
	}

	getrandom = unix.Getrandom
	if x, y := TransactionID(testMAC), TransactionID(testMAC); x == y {
		t.Errorf("GRND_INSECURE gave the same xid twice: %v", x)
	}
}
