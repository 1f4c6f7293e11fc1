// Package evdev watches /dev/input/event* for a power-button press, the
// way an ACPI power button (and QEMU's system_powerdown) reaches a
// system without acpid.
package evdev

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Linux input constants (linux/input-event-codes.h).
const (
	EvKey    = 0x01
	KeyPower = 116
)

// EventSize is sizeof(struct input_event) on 64-bit Linux: a 16-byte
// timeval, then type u16, code u16, value s32.
const EventSize = 24

// Event is one input event.
type Event struct {
	Type  uint16
	Code  uint16
	Value int32
}

// Parse decodes whole events from b; a trailing partial event is ignored.
func Parse(b []byte) []Event {
	var out []Event
	for len(b) >= EventSize {
		out = append(out, Event{
			Type:  binary.LittleEndian.Uint16(b[16:18]),
			Code:  binary.LittleEndian.Uint16(b[18:20]),
			Value: int32(binary.LittleEndian.Uint32(b[20:24])),
		})
		b = b[EventSize:]
	}
	return out
}

// IsPowerPress reports a KEY_POWER key-down.
func (e Event) IsPowerPress() bool {
	return e.Type == EvKey && e.Code == KeyPower && e.Value == 1
}

// WatchPower returns a channel that receives once for each power-button
// press on any device matching glob. Devices that appear later (a module
// loaded late) are picked up by a rescan every rescan interval.
func WatchPower(ctx context.Context, glob string, rescan time.Duration) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		var mu sync.Mutex
		open := map[string]bool{}
		for {
			paths, _ := filepath.Glob(glob)
			for _, p := range paths {
				mu.Lock()
				seen := open[p]
				open[p] = true
				mu.Unlock()
				if !seen {
					go func() {
						readDevice(ctx, p, out)
						mu.Lock()
						delete(open, p)
						mu.Unlock()
					}()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(rescan):
			}
		}
	}()
	return out
}

func readDevice(ctx context.Context, path string, out chan<- struct{}) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	go func() { <-ctx.Done(); f.Close() }()
	buf := make([]byte, EventSize*64)
	for {
		// The kernel hands out whole events per read.
		n, err := f.Read(buf)
		for _, e := range Parse(buf[:n]) {
			if e.IsPowerPress() {
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
		if err != nil {
			return
		}
	}
}
