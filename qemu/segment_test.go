package qemu

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeVM stands in for QEMU's dgram backend: a unixgram socket bound at
// a port's Local path, sending to the switch.
type fakeVM struct {
	t    *testing.T
	port *Port
	conn *net.UnixConn
}

func attach(t *testing.T, seg *Segment, i int) *fakeVM {
	t.Helper()
	p, err := seg.Port(i)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p.Local, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeVM{t, p, c}
}

func frame(dst, src net.HardwareAddr, payload string) []byte {
	f := append(append(append([]byte{}, dst...), src...), 0x08, 0x00)
	return append(f, payload...)
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (v *fakeVM) send(dst net.HardwareAddr, payload string) {
	v.t.Helper()
	if _, err := v.conn.WriteToUnix(frame(dst, v.port.MAC, payload), &net.UnixAddr{Name: v.port.Switch, Net: "unixgram"}); err != nil {
		v.t.Fatal(err)
	}
}

// got returns the payloads this VM receives within a short while.
func (v *fakeVM) got() []string {
	var out []string
	buf := make([]byte, 2048)
	for {
		v.conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		n, err := v.conn.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[14:n]))
	}
}

func TestSegmentLearnsAndFloods(t *testing.T) {
	seg, err := NewSegment("")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	a, b, c := attach(t, seg, 0), attach(t, seg, 1), attach(t, seg, 2)
	if a.port.MAC.String() != "52:54:00:ab:00:01" || c.port.MAC.String() != "52:54:00:ab:00:03" {
		t.Fatalf("MACs %s %s", a.port.MAC, c.port.MAC)
	}

	check := func(step string, want map[*fakeVM]string) {
		t.Helper()
		for v, name := range map[*fakeVM]string{a: "a", b: "b", c: "c"} {
			if got := strings.Join(v.got(), ","); got != want[v] {
				t.Errorf("%s: %s received %q, want %q", step, name, got, want[v])
			}
		}
	}
	// Broadcast from a (an ARP request): every other port, known
	// before it has sent anything.
	a.send(broadcast, "who-has")
	check("broadcast", map[*fakeVM]string{b: "who-has", c: "who-has"})
	// b answers a, whose port the switch learned: only a.
	b.send(a.port.MAC, "is-at")
	check("unicast to a learned MAC", map[*fakeVM]string{a: "is-at"})
	// a to b, learned from b's answer: only b.
	a.send(b.port.MAC, "data")
	check("unicast to b", map[*fakeVM]string{b: "data"})
	// A MAC nobody has sent from: flooded.
	a.send(SegmentMAC(7), "unknown")
	check("unknown unicast", map[*fakeVM]string{b: "unknown", c: "unknown"})
	// A multicast destination (IPv6 neighbour discovery): flooded.
	c.send(net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, "mcast")
	check("multicast", map[*fakeVM]string{a: "mcast", b: "mcast"})
	// A runt is dropped.
	a.conn.WriteToUnix([]byte{1, 2, 3}, &net.UnixAddr{Name: seg.Socket(), Net: "unixgram"})
	check("runt", map[*fakeVM]string{})

	learned := seg.Learned()
	for _, v := range []*fakeVM{a, b, c} {
		if learned[v.port.MAC.String()] != v.port.Local {
			t.Errorf("learned %v, want %s at %s", learned, v.port.MAC, v.port.Local)
		}
	}
	if n := seg.Counts(); n != (SegmentCounts{Frames: 5, Forwarded: 2, Flooded: 3, Runts: 1}) {
		t.Errorf("counts %+v", n)
	}

	// A machine that moves (a VM started again on another socket) is
	// learned at its new port.
	d, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(filepath.Dir(a.port.Local), "moved.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.WriteToUnix(frame(broadcast, a.port.MAC, "moved"), &net.UnixAddr{Name: seg.Socket(), Net: "unixgram"})
	a.got() // the broadcast reached the old port too, as it should
	b.got()
	c.got()
	b.send(a.port.MAC, "to-new")
	d.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 100)
	n, err := d.Read(buf)
	if err != nil || !bytes.Equal(buf[14:n], []byte("to-new")) {
		t.Errorf("frame to a moved MAC: %q, %v", buf[:max(n, 0)], err)
	}
	if got := a.got(); len(got) != 0 {
		t.Errorf("the old port still got %q", got)
	}
}

func TestSegmentVMStopped(t *testing.T) {
	// A port whose VM never started (no socket) or is gone must not
	// stop the switch.
	seg, err := NewSegment("")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	a := attach(t, seg, 0)
	if _, err := seg.Port(1); err != nil { // never bound
		t.Fatal(err)
	}
	gone := attach(t, seg, 2)
	gone.conn.Close()
	os.Remove(gone.port.Local)
	b := attach(t, seg, 3)
	a.send(broadcast, "hello")
	if got := b.got(); strings.Join(got, ",") != "hello" {
		t.Errorf("b after floods to missing ports: %q", got)
	}
}

func TestSegmentArgs(t *testing.T) {
	p := &Port{Switch: "/tmp/s,1/switch.sock", Local: "/tmp/s,1/vm0.sock", MAC: SegmentMAC(0)}
	args, err := Args(Config{Kernel: "k", Forwards: []Forward{{8080, 80}}, Segment: p}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	want := "-nic user,id=net0,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80 " +
		"-netdev dgram,id=seg0,local.type=unix,local.path=/tmp/s,,1/vm0.sock,remote.type=unix,remote.path=/tmp/s,,1/switch.sock " +
		"-device virtio-net-pci,netdev=seg0,mac=52:54:00:ab:00:01"
	if !strings.Contains(line, want) {
		t.Errorf("args\n%s\nlack\n%s", line, want)
	}
	if _, err := Args(Config{Kernel: "k", Segment: &Port{Switch: "s"}}, ""); err == nil {
		t.Error("a port without a local socket or MAC accepted")
	}
	if _, err := Args(Config{Disk: "d", BIOS: true, NetBoot: true, Segment: p}, ""); err == nil {
		t.Error("a net boot with a segment accepted (QEMU would refuse the second bootindex 0)")
	}
	if _, err := (&Segment{}).Port(-1); err == nil {
		t.Error("index -1 accepted")
	}
}
