package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/diskimage"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
	"github.com/imgbuild/imgbuild/sign"
)

// installIfAsked is the PXE installer: on a diskless boot whose command
// line names imgbuild.install=DEVICE, it writes the image from
// imgbuild.install.url= to DEVICE (checked against the description
// stage-1 verified), puts this boot's ignition.config.url config on its
// OEM partition so the installed machine gets the same config, and
// reboots. No service starts. Any failure stops the machine before the
// reboot.
func (s *sysinit) installIfAsked(ctx context.Context, net *netState) {
	b, _ := os.ReadFile("/proc/cmdline")
	cmdline := string(b)
	dev, ok := contract.Param(cmdline, contract.KeyInstall)
	if !ok {
		return
	}
	if !contract.IsPXE(cmdline) {
		s.logf("%s= ignored: installing runs only on a diskless boot (%s=1)", contract.KeyInstall, contract.KeyPXE)
		return
	}
	if err := s.install(ctx, net, cmdline, dev); err != nil {
		s.fatal(fmt.Errorf("%s=%s: %w", contract.KeyInstall, dev, err))
	}
	unix.Sync()
	s.logf("install: rebooting into %s", dev)
	if s.pid1 {
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		select {}
	}
	os.Exit(0)
}

func (s *sysinit) install(ctx context.Context, net *netState, cmdline, dev string) error {
	url, ok := contract.Param(cmdline, contract.KeyInstallURL)
	if !ok || url == "" {
		return fmt.Errorf("%s= names no image: add %s=http://.../NAME.img", contract.KeyInstall, contract.KeyInstallURL)
	}
	data, err := os.ReadFile(filepath.Join(contract.RunDir, filepath.Base(contract.PXEInstallFile)))
	if err != nil {
		return fmt.Errorf("no verified disk image description from stage-1: %w", err)
	}
	want, err := sign.ParseDiskImage(data)
	if err != nil {
		return err
	}
	client := net.client(ctx)
	if client == nil {
		return fmt.Errorf("no network to fetch %s", url)
	}
	client.Timeout = 0 // the image may take long; the context bounds it
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if size, err := f.Seek(0, io.SeekEnd); err != nil || size < want.Size {
		return fmt.Errorf("%s holds %d bytes, the image needs %d (%v)", dev, size, want.Size, err)
	}
	body, err := fetchImage(ctx, client, url, want.Size)
	if err != nil {
		return err
	}
	defer body.Close()
	s.logf("install: writing %s %s (%d MiB, sha256 %.12s) from %s to %s", want.Name, want.Version, want.Size>>20, want.SHA256, url, dev)
	t := time.Now()
	if err := diskimage.Write(blockDisk{f}, body, *want, nil); err != nil {
		return err
	}
	s.logf("install: %s written and its sha256 checked in %.1fs", dev, time.Since(t).Seconds())
	if err := rereadPartitions(f); err != nil {
		s.logf("install: re-read partition table of %s: %v", dev, err)
	}
	return s.installConfig(ctx, client, cmdline, f)
}

func fetchImage(ctx context.Context, client *http.Client, url string, size int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d bytes, the signed description says %d: %w", url, resp.ContentLength, size, diskimage.Mismatch)
	}
	return resp.Body, nil
}

// installConfig writes the config this boot fetched from
// ignition.config.url onto the installed disk's OEM partition, where the
// installed system's first boot finds it.
func (s *sysinit) installConfig(ctx context.Context, client *http.Client, cmdline string, disk *os.File) error {
	src := ignition.URL(cmdline)
	if !src.NeedsNetwork {
		s.logf("install: no %s=: the installed machine boots without a per-machine config", contract.IgnitionURLKey)
		return nil
	}
	cfg, err := src.Read(ctx, client)
	if err != nil {
		return err
	}
	t, err := gpt.Read(disk, 512)
	if err != nil {
		return fmt.Errorf("installed disk: %w", err)
	}
	for _, e := range t.Entries() {
		if e.Number != oemPartition {
			continue
		}
		start, size := int64(e.FirstLBA)*512, int64(e.LastLBA-e.FirstLBA+1)*512
		sum := sha256.Sum256(cfg)
		files := []fat.File{{Path: contract.OEMConfig, Data: cfg}}
		if err := fat.WriteFAT16(io.NewOffsetWriter(disk, start), size, files, binary.LittleEndian.Uint32(sum[:]), contract.OEMLabel,
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return fmt.Errorf("OEM partition: %w", err)
		}
		s.logf("install: per-machine config sha256:%.12x put on the OEM partition", sum)
		return disk.Sync()
	}
	return fmt.Errorf("installed disk has no OEM partition (number %d)", oemPartition)
}

// blockDisk zeroes ranges of a block device with BLKZEROOUT, which
// virtio-blk and NVMe do without transferring the zeros.
type blockDisk struct{ *os.File }

func (d blockDisk) ZeroRange(off, n int64) error {
	r := [2]uint64{uint64(off), uint64(n)}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&r))); errno != 0 {
		return errno
	}
	return nil
}

func rereadPartitions(f *os.File) error {
	return unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
}
