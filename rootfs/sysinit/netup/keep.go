package netup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/imgbuild/imgbuild/internal/ctxtime"
)

// Keeper holds the DHCP leases of a boot: a NIC whose first exchange
// went unanswered keeps asking (a cable plugged in, a DHCP server that
// came up after the machine), and a lease is renewed before it ends
// (RFC 2131's RENEWING at T1 and REBINDING at T2), so that a machine up
// for longer than its lease does not keep an address the server gives
// to another.
type Keeper struct {
	ctx  context.Context
	logf func(format string, args ...any)
	// Retry is the first wait before asking again after no answer,
	// doubled up to RetryMax; Floor is the least wait between renewal
	// tries (RFC 2131 suggests 60 s; tests shorten both).
	Retry, RetryMax, Floor time.Duration

	mu      sync.Mutex
	leases  map[string]*Lease
	holders map[string]*holder
}

type holder struct {
	resolvConf string
	cancel     context.CancelFunc
	done       chan struct{}
}

// NewKeeper returns a Keeper whose holders live until ctx ends; logf
// prints a console line.
func NewKeeper(ctx context.Context, logf func(format string, args ...any)) *Keeper {
	return &Keeper{ctx: ctx, logf: logf, Retry: 10 * time.Second, RetryMax: 2 * time.Minute, Floor: time.Minute,
		leases: map[string]*Lease{}, holders: map[string]*holder{}}
}

// DHCP is DHCP, with the lease remembered for Hold. A holder of nic is
// stopped first, so that one exchange at a time runs on a NIC.
func (k *Keeper) DHCP(ctx context.Context, nic, resolvConf string) (string, error) {
	k.Drop(nic)
	l, err := DHCP(ctx, nic, resolvConf)
	k.mu.Lock()
	k.leases[nic] = l // nil after no answer
	k.mu.Unlock()
	if err != nil {
		return "", err
	}
	return l.String(), nil
}

// Hold keeps nic's lease (or asks again for one) from now on, writing
// resolvConf unless it is "". A NIC already held keeps its holder,
// unless resolvConf changed (a file's nameservers now win over the
// lease's).
func (k *Keeper) Hold(nic, resolvConf string) {
	k.mu.Lock()
	h, ok := k.holders[nic]
	k.mu.Unlock()
	if ok && h.resolvConf == resolvConf {
		return
	}
	k.Drop(nic)
	k.mu.Lock()
	defer k.mu.Unlock()
	ctx, cancel := context.WithCancel(k.ctx)
	h = &holder{resolvConf: resolvConf, cancel: cancel, done: make(chan struct{})}
	k.holders[nic] = h
	l := k.leases[nic]
	go func() {
		defer close(h.done)
		k.hold(ctx, nic, resolvConf, l)
	}()
}

// Drop stops holding nic (a static configuration takes it over) and
// waits for its holder to end.
func (k *Keeper) Drop(nic string) {
	k.mu.Lock()
	h := k.holders[nic]
	delete(k.holders, nic)
	k.mu.Unlock()
	if h != nil {
		h.cancel()
		<-h.done
	}
}

// Lease is nic's lease as last acknowledged; nil when it has none.
func (k *Keeper) Lease(nic string) *Lease {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.leases[nic]
}

func (k *Keeper) set(nic string, l *Lease) {
	k.mu.Lock()
	k.leases[nic] = l
	k.mu.Unlock()
}

func (k *Keeper) hold(ctx context.Context, nic, resolvConf string, l *Lease) {
	wait := k.Retry
	tries := 0
	for ctx.Err() == nil {
		if l == nil {
			// Jitter, so that machines a power cut started together do
			// not ask together.
			if ctxtime.Sleep(ctx, wait/2+rand.N(wait/2+1)) != nil {
				return
			}
			tries++
			got, err := DHCP(ctx, nic, resolvConf)
			if err != nil {
				if wait < k.RetryMax {
					wait = min(2*wait, k.RetryMax)
					if wait == k.RetryMax {
						k.logf("network: %s: still no DHCP answer after %d more tries; asking every %s", nic, tries, k.RetryMax)
					}
				}
				continue
			}
			l, wait = got, k.Retry
			k.set(nic, l)
			k.logf("network %s (DHCP answered after %d more tries)", l, tries)
			tries = 0
			continue
		}
		if !l.finite() {
			<-ctx.Done()
			return
		}
		// T1 and T2 as the server gives them, else half and seven
		// eighths of the lease (RFC 2131 4.4.5).
		t1, t2 := l.Duration/2, l.Duration*7/8
		if v := l.dhcp.ACK.IPAddressRenewalTime(0); v > 0 && v < l.Duration {
			t1 = v
		}
		if v := l.dhcp.ACK.IPAddressRebindingTime(0); v > t1 && v < l.Duration {
			t2 = v
		}
		end := l.At.Add(l.Duration)
		if ctxtime.Sleep(ctx, time.Until(l.At.Add(t1))) != nil {
			return
		}
		l = k.renew(ctx, nic, resolvConf, l, l.At.Add(t2), end)
	}
}

// renew renews l until it ends: unicast to its server until t2
// (RENEWING), then broadcast to any (REBINDING), a server's refusal
// starting over. It returns the new lease, or nil when l ended or was
// refused.
func (k *Keeper) renew(ctx context.Context, nic, resolvConf string, l *Lease, t2, end time.Time) *Lease {
	for {
		got, err := renewOnce(ctx, nic, resolvConf, l, time.Now().Before(t2))
		if err == nil {
			k.set(nic, got)
			if !got.Address.IP.Equal(l.Address.IP) || got.Address.Mask.String() != l.Address.Mask.String() {
				removeAddr(nic, l)
				k.logf("network %s (renewed with a new address)", got)
			}
			return got
		}
		var nak *nclient4.ErrNak
		if errors.As(err, &nak) {
			removeAddr(nic, l)
			k.set(nic, nil)
			k.logf("network: %s: the server refused to renew %s: asking afresh", nic, l.Address)
			return k.again(ctx, nic, resolvConf)
		}
		left := time.Until(end)
		if left <= 0 {
			// The kernel has dropped the address by its lifetime.
			k.set(nic, nil)
			k.logf("network: %s: the lease of %s ended unrenewed (%v): asking afresh", nic, l.Address, err)
			return k.again(ctx, nic, resolvConf)
		}
		if ctxtime.Sleep(ctx, min(max(left/2, k.Floor), left)) != nil {
			return nil
		}
	}
}

// again is a fresh exchange after a lease ended; nil (so that hold
// retries) when unanswered.
func (k *Keeper) again(ctx context.Context, nic, resolvConf string) *Lease {
	got, err := DHCP(ctx, nic, resolvConf)
	if err != nil {
		return nil
	}
	k.set(nic, got)
	k.logf("network %s", got)
	return got
}

// renewOnce sends one renewing (unicast) or rebinding (broadcast)
// request for l and applies the answer.
func renewOnce(ctx context.Context, nic, resolvConf string, l *Lease, unicast bool) (*Lease, error) {
	link, err := netlink.LinkByName(nic)
	if err != nil {
		return nil, fmt.Errorf("network: %s: %w", nic, err)
	}
	opts := []nclient4.ClientOpt{nclient4.WithTimeout(dhcpTryTimeout), nclient4.WithRetry(dhcpTries)}
	if srv := l.dhcp.ACK.ServerIdentifier(); unicast && srv != nil {
		// From the leased address through the kernel's UDP, as RFC 2131
		// has it: a raw packet from 0.0.0.0 to a unicast address is a
		// martian the server's kernel drops.
		opts = append(opts, nclient4.WithServerAddr(&net.UDPAddr{IP: srv, Port: nclient4.ServerPort}),
			nclient4.WithUnicast(&net.UDPAddr{IP: l.Address.IP, Port: nclient4.ClientPort}))
	}
	c, err := nclient4.New(nic, opts...)
	if err != nil {
		return nil, fmt.Errorf("network: dhcp on %s: %w", nic, err)
	}
	defer c.Close()
	nl, err := c.Renew(ctx, l.dhcp)
	if err != nil {
		return nil, err
	}
	got := leaseOf(nic, nl)
	if err := got.apply(link, resolvConf); err != nil {
		return nil, err
	}
	return got, nil
}

func removeAddr(nic string, l *Lease) {
	if link, err := netlink.LinkByName(nic); err == nil {
		_ = netlink.AddrDel(link, &netlink.Addr{IPNet: l.Address})
	}
}
