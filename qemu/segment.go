package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// A Segment is a private Ethernet segment for VMs, with no root and no
// host interface: a learning switch, in this process, on a unixgram
// socket. Each VM on it has a second NIC (Config.Segment) whose QEMU
// backend is -netdev dgram between the VM's own unix socket and the
// switch's, one Ethernet frame a datagram. The switch learns each
// source MAC's port (the socket it came from), sends unicast frames to
// the learned port and floods broadcast, multicast and unknown unicast
// to every other port. Nothing leaves the segment: it has no uplink, and
// each VM keeps its user-mode NIC (restrict=on) for DHCP and forwards.
type Segment struct {
	dir    string
	ownDir bool
	sock   string
	conn   *net.UnixConn
	done   chan struct{}
	mu     sync.Mutex
	ports  map[string]bool    // every port's socket, registered or seen
	fdb    map[[6]byte]string // source MAC -> port socket
	counts SegmentCounts
}

// SegmentCounts are a Segment's frame counters.
type SegmentCounts struct {
	Frames    int // frames received from the ports
	Forwarded int // frames sent to one learned port
	Flooded   int // frames sent to every other port
	Runts     int // datagrams too short to be Ethernet frames
}

// Port is one VM's attachment to a Segment.
type Port struct {
	Switch string           // the switch's socket (remote.path)
	Local  string           // the VM's own socket (local.path), made by QEMU
	MAC    net.HardwareAddr // the VM's segment NIC
}

// SegmentMAC is machine i's MAC address on a segment:
// 52:54:00:ab:HI:LO with HI:LO = i+1 (machine 0 has 52:54:00:ab:00:01).
// The same index gives the same address on every run, so a machine's
// per-machine config can match its NIC by MACAddress=.
func SegmentMAC(i int) net.HardwareAddr {
	n := i + 1
	return net.HardwareAddr{0x52, 0x54, 0x00, 0xab, byte(n >> 8), byte(n)}
}

// maxSegmentMachines keeps SegmentMAC's addresses distinct.
const maxSegmentMachines = 0xfffe

// NewSegment starts a switch whose sockets live in dir (a new temporary
// directory when dir is ""; a unix socket's path must stay under 108
// bytes, so keep dir short).
func NewSegment(dir string) (*Segment, error) {
	s := &Segment{dir: dir, done: make(chan struct{}), ports: map[string]bool{}, fdb: map[[6]byte]string{}}
	if dir == "" {
		d, err := os.MkdirTemp("", "imgbuild-seg-")
		if err != nil {
			return nil, fmt.Errorf("qemu: segment: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	s.sock = filepath.Join(s.dir, "switch.sock")
	_ = os.Remove(s.sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.sock, Net: "unixgram"})
	if err != nil {
		if s.ownDir {
			os.RemoveAll(s.dir)
		}
		return nil, fmt.Errorf("qemu: segment: %w", err)
	}
	s.conn = conn
	go s.run()
	return s, nil
}

// Socket is the switch's socket.
func (s *Segment) Socket() string { return s.sock }

// Port registers machine i's port, so that floods reach it before it
// has sent a frame, and returns it for Config.Segment.
func (s *Segment) Port(i int) (*Port, error) {
	if i < 0 || i >= maxSegmentMachines {
		return nil, fmt.Errorf("qemu: segment: machine index %d out of range", i)
	}
	p := &Port{Switch: s.sock, Local: filepath.Join(s.dir, fmt.Sprintf("vm%d.sock", i)), MAC: SegmentMAC(i)}
	if len(p.Local) >= 108 {
		return nil, fmt.Errorf("qemu: segment: socket path %s too long for a unix socket", p.Local)
	}
	s.mu.Lock()
	s.ports[p.Local] = true
	s.mu.Unlock()
	return p, nil
}

// Learned is the switch's table: MAC (aa:bb:..) -> port socket.
func (s *Segment) Learned() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for mac, port := range s.fdb {
		out[net.HardwareAddr(mac[:]).String()] = port
	}
	return out
}

// Counts returns the frame counters.
func (s *Segment) Counts() SegmentCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Close stops the switch and removes its socket (and its directory,
// when NewSegment made it).
func (s *Segment) Close() error {
	err := s.conn.Close()
	<-s.done
	os.Remove(s.sock)
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
	return err
}

// sendTimeout bounds a send to a port whose queue is full (a VM that
// stopped reading): the frame is dropped, as a switch drops it.
const sendTimeout = 50 * time.Millisecond

func (s *Segment) run() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := s.conn.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a sender's error reported to us; go on
		}
		src := ""
		if from != nil {
			src = from.Name
		}
		for _, to := range s.route(buf[:n], src) {
			_ = s.conn.SetWriteDeadline(time.Now().Add(sendTimeout))
			// A port whose VM is not running (yet, or any more) has no
			// socket: the frame is lost, as on a cable with no machine.
			_, _ = s.conn.WriteToUnix(buf[:n], &net.UnixAddr{Name: to, Net: "unixgram"})
		}
	}
}

// route learns frame's source and returns the ports it goes to.
func (s *Segment) route(frame []byte, src string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(frame) < 14 {
		s.counts.Runts++
		return nil
	}
	s.counts.Frames++
	var dst, from [6]byte
	copy(dst[:], frame[0:6])
	copy(from[:], frame[6:12])
	if src != "" {
		s.ports[src] = true
		if from[0]&1 == 0 { // a unicast source only
			s.fdb[from] = src
		}
	}
	if dst[0]&1 == 0 {
		if port, ok := s.fdb[dst]; ok {
			if port == src {
				return nil // already on the sender's side
			}
			s.counts.Forwarded++
			return []string{port}
		}
	}
	s.counts.Flooded++
	var out []string
	for p := range s.ports {
		if p != src {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// segmentArgs attach p as a second virtio NIC: QEMU's option syntax
// doubles a comma inside a value.
func segmentArgs(p *Port) ([]string, error) {
	if p.Switch == "" || p.Local == "" || len(p.MAC) != 6 {
		return nil, fmt.Errorf("qemu: segment port %+v: want both sockets and a MAC", *p)
	}
	esc := func(s string) string { return strings.ReplaceAll(s, ",", ",,") }
	return []string{
		"-netdev", "dgram,id=seg0,local.type=unix,local.path=" + esc(p.Local) + ",remote.type=unix,remote.path=" + esc(p.Switch),
		"-device", "virtio-net-pci,netdev=seg0,mac=" + p.MAC.String(),
	}, nil
}

// Cluster is VMs on one Segment.
type Cluster struct {
	Segment *Segment
	VMs     []*VM
}

// StartCluster starts a Segment in dir ("" for a temporary one) and one
// VM per config on it, machine i on Port(i) with SegmentMAC(i); each
// keeps the user-mode NIC its config describes (restrict=on unless it
// asks for OpenNetwork), which comes first, so that the guest's first
// NIC is still the one DHCP answers on. On an error the VMs already
// started are stopped and the segment is closed.
func StartCluster(ctx context.Context, dir string, cfgs []Config) (*Cluster, error) {
	seg, err := NewSegment(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Segment: seg}
	for i, cfg := range cfgs {
		if cfg.Segment, err = seg.Port(i); err == nil {
			var vm *VM
			if vm, err = Start(ctx, cfg); err == nil {
				c.VMs = append(c.VMs, vm)
				continue
			}
		}
		c.Close()
		return nil, fmt.Errorf("qemu: cluster machine %d: %w", i, err)
	}
	return c, nil
}

// Close stops every VM at once and then the switch.
func (c *Cluster) Close() {
	for _, vm := range c.VMs {
		vm.Kill()
	}
	c.Segment.Close()
}
