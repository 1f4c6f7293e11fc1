package main

import (
	"bytes"
	"testing"
	"time"
)

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"2.87 1.02\n", 2870 * time.Millisecond, false},
		{"12345.00 0.00", 12345 * time.Second, false},
		{"", 0, true},
		{"x 1", 0, true},
	}
	for _, tt := range tests {
		got, err := parseUptime(tt.in)
		if (err != nil) != tt.err || got.Round(time.Millisecond) != tt.want {
			t.Errorf("parseUptime(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestConsoleMarkers(t *testing.T) {
	var b bytes.Buffer
	c := &console{w: &b}
	c.printf("switching to USR (slot %s) after %s", "a", seconds(2346*time.Millisecond))
	c.fatal("find partitions", errTest("no partition"))
	want := "imgbuild-stage1: switching to USR (slot a) after 2.35s\nimgbuild-stage1: FATAL: find partitions: no partition\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
