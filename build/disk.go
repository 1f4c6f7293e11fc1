package build

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/sign/secureboot"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// diskIn is what goes onto the disk: slot A's boot files (or, with
// Secure Boot keys, its UKI), USR-A and the release record.
type diskIn struct {
	boot       bootFiles
	usr        usrOut
	uki        map[string]string // slot -> signed UKI; nil without Secure Boot
	bootloader string            // the systemd-boot-efi package
	sb         *secureboot.KeySet
	release    releaseOut
}

// diskOut is the staged image and its sha256.
type diskOut struct {
	path, sum string
}

// disk writes the GPT image: the ESP's files (systemd-boot, slot A's
// entry, kernel, initramfs or UKI, release record), USR-A, and holes for
// the rest of the contract's partition table.
func (b *builder) disk(in diskIn) (diskOut, string, error) {
	boot, err := deb.ReadFile(in.bootloader, b.bootPath())
	if err != nil {
		return diskOut{}, "", fmt.Errorf("systemd-boot: %w", err)
	}
	files := append(b.bootloaderFiles(boot), []fat.File{
		{Path: contract.LoaderConf, Data: []byte(loaderConf)},
		{Path: contract.EntryPath("a", contract.DefaultTries), Data: []byte(b.bootEntry("a", in.usr.verity))},
		fileFrom(contract.KernelPath("a"), in.boot.kernel),
		fileFrom(contract.InitrdPath("a"), in.boot.initramfs),
	}...)
	if in.sb != nil {
		if files, err = b.secureBootFiles(in); err != nil {
			return diskOut{}, "", err
		}
	}
	files = append(files, in.release.espFiles()...)
	sum := sha256.Sum256([]byte(b.m.Name + "/esp"))
	volID := binary.LittleEndian.Uint32(sum[:4])
	usrA := in.usr.path
	d := b.m.Disk
	layout := disk.CoreOS(b.m.Name, disk.Sizes{ESP: int64(d.ESP), USR: int64(d.USR), OEM: int64(d.OEM), Root: int64(d.Root)},
		disk.Contents{ESP: fat.Content(int64(d.ESP), files, volID, contract.ESP.Label, b.epoch()), USRA: copyInto(usrA)})
	dk, err := diskKey(layout, files, volID, b.epoch(), usrA)
	if err != nil {
		return diskOut{}, "", err
	}
	out := diskOut{path: b.staged(".img")}
	if err := disk.Write(out.path, layout); err != nil {
		return diskOut{}, "", err
	}
	if out.sum, err = b.diskDigest(dk, out.path); err != nil {
		return diskOut{}, "", err
	}
	st, err := os.Stat(out.path)
	if err != nil {
		return diskOut{}, "", err
	}
	return out, fmt.Sprintf("%d MiB", st.Size()>>20), nil
}

func fileFrom(espPath, hostPath string) fat.File {
	st, err := os.Stat(hostPath)
	size := int64(0)
	if err == nil {
		size = st.Size()
	}
	return fat.File{Path: espPath, Size: size, Open: func() (io.ReadCloser, error) { return os.Open(hostPath) }}
}

func copyInto(src string) func(w io.WriterAt) error {
	return func(w io.WriterAt) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.NewOffsetWriter(w, 0), f)
		return err
	}
}

// diskKey identifies a disk image by everything written into it. It is
// "" (no caching) when a partition has content it does not know about.
func diskKey(l disk.Layout, files []fat.File, volID uint32, epoch time.Time, usr string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00disk\x00%s %d %d %d\n", toolHash(), l.DiskGUID, l.Size, volID, epoch.Unix())
	for _, p := range l.Partitions {
		fmt.Fprintf(h, "%d %q %s %s %d %d %d %v\n", p.Number, p.Label, p.TypeGUID, p.GUID, p.Start, p.Size, p.Attributes, p.Content != nil)
		if p.Content != nil && p.Label != contract.ESP.Label && p.Label != contract.USRA.Label {
			return "", nil
		}
	}
	sum, _, err := fsutil.FileSHA256(usr)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "usr %s\n", sum)
	for _, f := range files {
		sum := hex.EncodeToString(sha256Bytes(f.Data))
		if f.Open != nil {
			if sum, err = hashReader(f.Open); err != nil {
				return "", fmt.Errorf("disk: hash %s: %w", f.Path, err)
			}
		}
		fmt.Fprintf(h, "%q %d %d %s\n", f.Path, f.Size, f.ModTime.Unix(), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Bytes(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// diskDigest is the image's sha256: written is deterministic, so an
// image written from the same key before has the same digest, and a
// large, mostly empty image need not be read back.
func (b *builder) diskDigest(k, image string) (string, error) {
	if k == "" {
		sum, _, err := fsutil.FileSHA256(image)
		return sum, err
	}
	path, _, err := b.cached("disk-sha256", k, "sha256", func(path string) error {
		sum, _, err := fsutil.FileSHA256(image)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(sum), 0o644)
	})
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	return string(data), err
}
