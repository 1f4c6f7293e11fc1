//go:build linux

package dm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract/verity"
)

func TestVerityTable(t *testing.T) {
	root := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name string
		p    verity.Params
		want string
	}{
		{"superblock", verity.Params{DataBlocks: 1000, HashOffset: 1000 * 4096, Salt: []byte{1, 2}, RootHash: root},
			"1 /dev/vda3 /dev/vda3 4096 4096 1000 1001 sha256 " + strings.Repeat("ab", 32) + " 0102"},
		{"no superblock, no salt", verity.Params{DataBlocks: 8, HashOffset: 16 * 4096, RootHash: root, NoSuperblock: true},
			"1 /dev/vda3 /dev/vda3 4096 4096 8 16 sha256 " + strings.Repeat("ab", 32) + " -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerityTable("/dev/vda3", tt.p); got != tt.want {
				t.Errorf("VerityTable =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestIoctlBuf checks the layout against struct dm_ioctl and struct
// dm_target_spec from <linux/dm-ioctl.h>, field by field at fixed offsets.
func TestIoctlBuf(t *testing.T) {
	targets := []target{
		{start: 0, length: 80, typ: "verity", params: "1 a b"},   // 40+6 -> 48
		{start: 80, length: 8, typ: "zero", params: "123456789"}, // 40+10 -> 56
	}
	buf, err := ioctlBuf("usr", unix.DM_READONLY_FLAG, targets)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	checks := []struct {
		what      string
		got, want uint64
	}{
		{"version major", uint64(le.Uint32(buf[0:])), 4},
		{"data_size", uint64(le.Uint32(buf[12:])), uint64(len(buf))},
		{"data_start", uint64(le.Uint32(buf[16:])), 312},
		{"target_count", uint64(le.Uint32(buf[20:])), 2},
		{"flags", uint64(le.Uint32(buf[28:])), unix.DM_READONLY_FLAG},
		{"spec 1 sector_start", le.Uint64(buf[312:]), 0},
		{"spec 1 length", le.Uint64(buf[320:]), 80},
		{"spec 1 next", uint64(le.Uint32(buf[332:])), 48},
		{"spec 2 sector_start", le.Uint64(buf[360:]), 80},
		{"spec 2 next", uint64(le.Uint32(buf[380:])), 56},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	for _, s := range []struct {
		off  int
		want string
	}{{48, "usr\x00"}, {336, "verity\x00"}, {352, "1 a b\x00"}, {384, "zero\x00"}, {400, "123456789\x00"}} {
		if got := string(buf[s.off : s.off+len(s.want)]); got != s.want {
			t.Errorf("at %d: %q, want %q", s.off, got, s.want)
		}
	}
	if _, err := ioctlBuf(strings.Repeat("n", 128), 0, nil); err == nil {
		t.Error("ioctlBuf accepted a 128-byte name")
	}
}
