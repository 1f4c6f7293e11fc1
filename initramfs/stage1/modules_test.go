package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseLoadList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"virtio.ko\nvirtio_ring.ko\n\n# comment\n  virtio_blk.ko  \n", []string{"virtio.ko", "virtio_ring.ko", "virtio_blk.ko"}, false},
		{"", nil, false},
		{"kernel/drivers/virtio.ko\n", nil, true},
	}
	for _, tt := range tests {
		got, err := parseLoadList(strings.NewReader(tt.in))
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseLoadList(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLoadModulesOrderAndErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "load.list"), []byte("a.ko\nb.ko\nc.ko\n"), 0o644)
	var order []string
	n, _, err := loadModules(dir, func(p string) error {
		order = append(order, filepath.Base(p))
		return nil
	})
	if err != nil || n != 3 || !reflect.DeepEqual(order, []string{"a.ko", "b.ko", "c.ko"}) {
		t.Fatalf("loaded %v (%d), err %v", order, n, err)
	}
	_, _, err = loadModules(dir, func(p string) error {
		if filepath.Base(p) == "b.ko" {
			return errors.New("finit_module: ENOEXEC")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "b.ko") || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Fatalf("err %v, want one naming b.ko and the errno", err)
	}
	if n, _, err := loadModules(t.TempDir(), nil); n != 0 || err != nil {
		t.Fatalf("no load.list: %d, %v", n, err)
	}
	// A module with nothing to drive (efivarfs without UEFI) is skipped.
	n, skipped, err := loadModules(dir, func(p string) error {
		if filepath.Base(p) == "b.ko" {
			return fmt.Errorf("finit_module: ENODEV: %w", unix.ENODEV)
		}
		return nil
	})
	if err != nil || n != 2 || !reflect.DeepEqual(skipped, []string{"b.ko"}) {
		t.Fatalf("ENODEV: loaded %d, skipped %v, err %v; want 2, [b.ko], nil", n, skipped, err)
	}
}

func TestFinitModuleNamesErrno(t *testing.T) {
	// Not a module: the kernel (or the lack of privilege) refuses it, and
	// the error must carry the errno name.
	p := filepath.Join(t.TempDir(), "bogus.ko")
	os.WriteFile(p, []byte("not an ELF file"), 0o644)
	err := finitModule(p)
	if err == nil || !strings.Contains(err.Error(), "finit_module: E") {
		t.Fatalf("err %v, want finit_module: E<errno>", err)
	}
}
