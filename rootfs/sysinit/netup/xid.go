package netup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sys/unix"
)

// The dhcp library's packet constructors (dhcpv4.New and everything
// built on it, which nclient4's Request uses) draw the transaction id
// from getrandom before any modifier runs, polling until the kernel's
// entropy pool is ready; on a VM with no RDRAND and no virtio-rng that
// is minutes on every boot after the first. A transaction id only has to
// tell our exchange apart from other clients' on the link, so this file
// builds the packets itself around an id that never waits.

// getrandom is unix.Getrandom, replaced by tests.
var getrandom = unix.Getrandom

// TransactionID returns a DHCP transaction id without waiting for the
// entropy pool: getrandom(GRND_INSECURE) (Linux 5.6 and later; seeded by
// the random seed stage-1 fed in), or, on older kernels, a hash of the
// time and the MAC address, which is unique enough on one link.
func TransactionID(mac net.HardwareAddr) dhcpv4.TransactionID {
	var xid dhcpv4.TransactionID
	if n, err := getrandom(xid[:], unix.GRND_INSECURE); err == nil && n == len(xid) {
		return xid
	}
	h := sha256.New()
	h.Write(mac)
	binary.Write(h, binary.LittleEndian, time.Now().UnixNano())
	copy(xid[:], h.Sum(nil))
	return xid
}

// packet is dhcpv4.New without its blocking random transaction id.
func packet(xid dhcpv4.TransactionID, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  make(net.HardwareAddr, 6),
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

var wantedOptions = dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
	dhcpv4.OptionDomainName, dhcpv4.OptionDomainNameServer)

// Discover is the DISCOVER of RFC 2131 table 5, as nclient4 sends it.
func Discover(mac net.HardwareAddr, xid dhcpv4.TransactionID) *dhcpv4.DHCPv4 {
	return packet(xid, dhcpv4.WithHwAddr(mac), wantedOptions,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
}

// Request is the REQUEST (SELECTING state) answering offer, with the
// offer's transaction id.
func Request(offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	return packet(offer.TransactionID, dhcpv4.WithReply(offer),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(offer.ClientIPAddr),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(offer, dhcpv4.OptionServerIdentifier),
		wantedOptions,
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
}

// exchange is nclient4's Request (DISCOVER, OFFER, REQUEST, ACK) with
// our packets.
func exchange(ctx context.Context, c *nclient4.Client) (*nclient4.Lease, error) {
	offer, err := c.SendAndRead(ctx, c.RemoteAddr(), Discover(c.InterfaceAddr(), TransactionID(c.InterfaceAddr())),
		nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("no offer: %w", err)
	}
	// The lease runs from the request (RFC 2131 4.4.1), not the answer.
	sent := time.Now()
	ack, err := c.SendAndRead(ctx, c.RemoteAddr(), Request(offer), nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("no answer to request: %w", err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("server refused the offered %s: %q", offer.YourIPAddr, ack.Message())
	}
	return &nclient4.Lease{Offer: offer, ACK: ack, CreationTime: sent}, nil
}
