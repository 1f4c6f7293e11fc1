package ignition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

// Source is one place a config may come from. Read returns nil, nil when
// the place holds no config: the next source is tried.
type Source struct {
	Name string
	// NeedsNetwork sources get the client Options.Network returns.
	NeedsNetwork bool
	Read         func(ctx context.Context, client *http.Client) ([]byte, error)
}

// UserData is the hook for a platform's instance metadata user-data
// (AWS and the like), tried after every other source; nil until a
// platform provides it.
var UserData *Source

// FwCfg reads QEMU's fw_cfg entry contract.IgnitionFwCfg from sysfs
// (module qemu_fw_cfg); sysfs is usually /sys.
func FwCfg(sysfs string) Source {
	p := filepath.Join(sysfs, "firmware/qemu_fw_cfg/by_name", contract.IgnitionFwCfg, "raw")
	return Source{Name: "fw_cfg " + contract.IgnitionFwCfg, Read: func(context.Context, *http.Client) ([]byte, error) {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("fw_cfg: %w", err)
		}
		return b, nil
	}}
}

// OEM reads contract.OEMConfig from the FAT file system on the OEM
// partition device (found by find; "" means none), mounted read-only on
// mountpoint for as long as the read takes. A partition without a FAT
// boot sector (the image's empty OEM) holds no config.
func OEM(find func() (string, error), mountpoint string) Source {
	return Source{Name: "OEM partition " + contract.OEMConfig, Read: func(context.Context, *http.Client) ([]byte, error) {
		dev, err := find()
		if err != nil || dev == "" {
			return nil, err
		}
		if fat, err := hasFAT(dev); err != nil || !fat {
			return nil, err
		}
		if err := os.MkdirAll(mountpoint, 0o700); err != nil {
			return nil, fmt.Errorf("oem: %w", err)
		}
		if err := unix.Mount(dev, mountpoint, "vfat", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077"); err != nil {
			return nil, fmt.Errorf("oem: mount %s: %w", dev, err)
		}
		defer unix.Unmount(mountpoint, 0)
		b, err := os.ReadFile(filepath.Join(mountpoint, contract.OEMConfig))
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("oem: %w", err)
		}
		return b, nil
	}}
}

// hasFAT looks for a FAT boot sector (55 AA and a FAT type string).
func hasFAT(dev string) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, fmt.Errorf("oem: %w", err)
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := io.ReadFull(f, b); err != nil {
		return false, fmt.Errorf("oem: read %s: %w", dev, err)
	}
	return b[510] == 0x55 && b[511] == 0xaa &&
		(bytes.HasPrefix(b[0x52:], []byte("FAT")) || bytes.HasPrefix(b[0x36:], []byte("FAT"))), nil
}

// URL fetches the config named by ignition.config.url= on the kernel
// command line (PXE), once the network is up.
func URL(cmdline string) Source {
	u := cmdlineValue(cmdline, contract.IgnitionURLKey)
	// Only a URL to fetch makes the boot wait for the network.
	return Source{Name: contract.IgnitionURLKey + "=" + u, NeedsNetwork: u != "", Read: func(ctx context.Context, client *http.Client) ([]byte, error) {
		if u == "" {
			return nil, nil
		}
		if client == nil {
			return nil, fmt.Errorf("%s=%s: %w", contract.IgnitionURLKey, u, errNoNetwork)
		}
		var buf bytes.Buffer
		src, err := open(ctx, client, u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", contract.IgnitionURLKey, err)
		}
		defer src.Close()
		if _, err := io.Copy(&buf, io.LimitReader(src, maxFetch)); err != nil {
			return nil, fmt.Errorf("%s: %w", contract.IgnitionURLKey, err)
		}
		return buf.Bytes(), nil
	}}
}

func cmdlineValue(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// errNoConfig: no source held a config.
var errNoConfig = errors.New("no config")
