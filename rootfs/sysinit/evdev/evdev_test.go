package evdev

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, EventSize)
	binary.LittleEndian.PutUint64(b[0:8], 1234)  // tv_sec
	binary.LittleEndian.PutUint64(b[8:16], 5678) // tv_usec
	binary.LittleEndian.PutUint16(b[16:18], typ)
	binary.LittleEndian.PutUint16(b[18:20], code)
	binary.LittleEndian.PutUint32(b[20:24], uint32(value))
	return b
}

func TestParse(t *testing.T) {
	var b []byte
	b = append(b, event(EvKey, KeyPower, 1)...)
	b = append(b, event(0, 0, 0)...) // EV_SYN
	b = append(b, event(EvKey, KeyPower, 0)...)
	b = append(b, event(EvKey, 30, 1)...) // KEY_A
	b = append(b, event(EvKey, KeyPower, -1)[:10]...)
	evs := Parse(b)
	if len(evs) != 4 {
		t.Fatalf("parsed %d events, want 4", len(evs))
	}
	want := []struct {
		ev    Event
		press bool
	}{
		{Event{EvKey, KeyPower, 1}, true},
		{Event{0, 0, 0}, false},
		{Event{EvKey, KeyPower, 0}, false},
		{Event{EvKey, 30, 1}, false},
	}
	for i, w := range want {
		if evs[i] != w.ev || evs[i].IsPowerPress() != w.press {
			t.Errorf("event %d = %+v press=%v, want %+v press=%v", i, evs[i], evs[i].IsPowerPress(), w.ev, w.press)
		}
	}
}

func TestWatchPowerFromFifo(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "event0")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := WatchPower(ctx, filepath.Join(dir, "event*"), 50*time.Millisecond)
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(event(EvKey, 30, 1))
	select {
	case <-ch:
		t.Fatal("KEY_A counted as power")
	case <-time.After(100 * time.Millisecond):
	}
	w.Write(event(EvKey, KeyPower, 1))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no power press seen")
	}
}
