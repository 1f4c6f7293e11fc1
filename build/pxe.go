package build

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

// pxeOverhead is what a diskless machine needs beyond the PXE initramfs
// itself: the kernel, stage-1, sysinit, the page cache and the services
// of a small image. The initramfs counts twice: the kernel holds the
// loaded file while it unpacks it into RAM. Measured with minimal (an
// 8.5 MiB PXE initramfs) under SeaBIOS: 96 MiB boots, 80 MiB runs out of
// memory while unpacking (docs/targets.md).
const pxeOverhead = 80 << 20

// pxeExtraModules are the modules a diskless boot needs beyond the
// defaults: USR is a loop device over a file in the initramfs.
func (b *builder) pxeExtraModules() []string {
	if b.opts.Target != "pxe" {
		return nil
	}
	return []string{contract.PXELoopModule}
}

// pxeIn is what a diskless boot is made of: the disk's boot files, USR,
// the release record and the disk itself (for the installer), the keys
// that sign them.
type pxeIn struct {
	boot       bootFiles
	usr        usrOut
	disk       diskOut
	release    releaseOut
	key        ed25519.PrivateKey // nil: unsigned build
	sb         *secureboot.KeySet // nil: an unsigned PXE UKI
	bootloader string             // the systemd-boot-efi package: the UKI stub
}

// pxeOut are the staged outputs of --target pxe.
type pxeOut struct {
	initrd, ipxe, efi string
}

// pxe writes the outputs of --target pxe: the PXE initramfs (the disk's
// initramfs with USR, the release record and the disk image description
// appended), the iPXE script, and one UKI for firmware without iPXE.
func (b *builder) pxe(in pxeIn) (pxeOut, error) {
	out := pxeOut{initrd: b.staged(".pxe.initrd"), ipxe: b.staged(".ipxe"), efi: b.staged(".pxe.efi")}
	var size int64
	err := b.report.Step("pxe", func() (string, error) {
		var err error
		if size, err = b.pxeInitrd(in, out.initrd); err != nil {
			return "", err
		}
		if err := checkPXESize(size, int64(b.m.Run.Memory), b.m.File); err != nil {
			return "", err
		}
		script := b.ipxeScript(filepath.Base(in.boot.kernel), filepath.Base(out.initrd), in.usr.verity)
		if err := os.WriteFile(out.ipxe, []byte(script), 0o644); err != nil {
			return "", fmt.Errorf("pxe: %w", err)
		}
		return fmt.Sprintf("initramfs %d MiB", size>>20), nil
	})
	if err != nil {
		return pxeOut{}, err
	}
	if err := b.report.Step("pxe-uki", func() (string, error) { return b.pxeUKI(in, out) }); err != nil {
		return pxeOut{}, err
	}
	return out, nil
}

// checkPXESize refuses a PXE initramfs the manifest's memory cannot boot.
func checkPXESize(size, memory int64, file string) error {
	if need := 2*size + pxeOverhead; need > memory {
		return fmt.Errorf("%s: the PXE initramfs is %d MiB: a diskless boot needs about %d MiB of RAM (twice the initramfs while the kernel unpacks it, plus %d MiB), more than run.memory (%d MiB); raise run.memory or make USR smaller",
			file, size>>20, need>>20, pxeOverhead>>20, memory>>20)
	}
	return nil
}

// pxeCmdline is the diskless command line: no partitions, USR from the
// initramfs; the root hash is there for humans, as on disk.
func (b *builder) pxeCmdline(initrd string, v *verity.Params) string {
	args := append(contract.BaseArgsFor(b.m.Arch), contract.PXEArgs(initrd)...)
	args = append(args, contract.KeyVerity+"="+rootHash(v))
	return strings.Join(append(args, b.m.Kernel.Cmdline...), " ")
}

func rootHash(v *verity.Params) string { return fmt.Sprintf("%x", v.RootHash) }

// ipxeScript boots the kernel and PXE initramfs from where the script
// came from (iPXE resolves relative names against the script's URL).
// iPXE under EFI hands the initramfs to the kernel's EFI stub only when
// the command line names it (initrd=NAME).
func (b *builder) ipxeScript(kernel, initrd string, v *verity.Params) string {
	return fmt.Sprintf(`#!ipxe
# %s %s: diskless boot from RAM (docs/targets.md). Add
# ignition.config.url=URL for the per-machine config,
# imgbuild.pxe.root=/dev/DISK to keep ROOT on a local disk (a blank disk
# is partitioned and formatted; any other disk without our ROOT is left
# alone), and imgbuild.install=/dev/DISK imgbuild.install.url=URL-of-%s.img
# to install.
echo Booting %s %s diskless
kernel %s %s
initrd %s
boot
`, b.m.Name, b.m.Version, b.m.Name, b.m.Name, b.m.Version, kernel, b.pxeCmdline(initrd, v), initrd)
}

// pxeInitrd writes the disk's initramfs, padded to 4 bytes, followed by
// an uncompressed cpio archive with the PXE files. The kernel unpacks
// concatenated archives in order. The disk's initramfs stays byte for
// byte what the release record names, and USR (squashfs: compressed
// already) is not compressed twice nor decompressed at boot.
func (b *builder) pxeInitrd(in pxeIn, path string) (int64, error) {
	out, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	defer out.Close()
	base, err := os.Open(in.boot.initramfs)
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	defer base.Close()
	n, err := io.Copy(out, base)
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	if pad := (4 - n%4) % 4; pad > 0 {
		if _, err := out.Write(make([]byte, pad)); err != nil {
			return 0, fmt.Errorf("pxe: %w", err)
		}
	}
	usr, err := os.Open(in.usr.path)
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	defer usr.Close()
	st, err := usr.Stat()
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	files, err := b.pxeFiles(in)
	if err != nil {
		return 0, err
	}
	if err := b.writePXECpio(out, usr, st.Size(), files); err != nil {
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	st, err = os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("pxe: %w", err)
	}
	return st.Size(), nil
}

// pxeFiles are the small files of the PXE archive: the release record,
// the disk image description, and their signatures in signed builds.
func (b *builder) pxeFiles(in pxeIn) (map[string][]byte, error) {
	img := sign.DiskImage{Format: sign.DiskImageFormat, Name: b.m.Name, Version: b.m.Version,
		VerityRoot: rootHash(in.usr.verity), SHA256: in.disk.sum}
	st, err := os.Stat(in.disk.path)
	if err != nil {
		return nil, fmt.Errorf("pxe: disk image: %w", err)
	}
	img.Size = st.Size()
	files := map[string][]byte{contract.PXERecordFile: in.release.data, contract.PXEInstallFile: img.Canonical()}
	if in.key != nil {
		sig, err := sign.SignBytes(sign.DiskImageContext, img.Canonical(), in.key)
		if err != nil {
			return nil, fmt.Errorf("pxe: %w", err)
		}
		files[contract.PXESigFile], files[contract.PXEInstallSigFile] = in.release.sig, sig
	}
	return files, nil
}

// writePXECpio writes the second archive, deterministically: fixed
// order, inode numbers clear of the first archive's, owner root, the
// build's epoch.
func (b *builder) writePXECpio(w io.Writer, usr io.ReaderAt, usrSize int64, files map[string][]byte) error {
	recs := []cpio.Record{{ReaderAt: usr, Info: cpio.Info{Name: strings.TrimPrefix(contract.PXEUSRFile, "/"),
		Mode: cpio.S_IFREG | 0o400, FileSize: uint64(usrSize)}}}
	for _, p := range []string{contract.PXERecordFile, contract.PXESigFile, contract.PXEInstallFile, contract.PXEInstallSigFile} {
		if data, ok := files[p]; ok {
			recs = append(recs, cpio.StaticRecord(data, cpio.Info{Name: strings.TrimPrefix(p, "/"), Mode: cpio.S_IFREG | 0o444}))
		}
	}
	cw := cpio.Newc.Writer(w)
	for i, r := range recs {
		r.Info.Ino, r.Info.MTime, r.Info.NLink = uint64(1<<20+i), uint64(b.lock.SourceDateEpoch), 1
		if err := cw.WriteRecord(r); err != nil {
			return fmt.Errorf("pxe: write %s: %w", r.Info.Name, err)
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("pxe: trailer: %w", err)
	}
	return nil
}

// pxeUKI writes one EFI executable with the kernel, the PXE initramfs and
// the diskless command line, signed with the db key when the build has
// Secure Boot keys: firmware without iPXE boots it over plain UEFI PXE
// or HTTP boot, and with Secure Boot nothing of it can be swapped.
func (b *builder) pxeUKI(in pxeIn, out pxeOut) (string, error) {
	stub, err := deb.ReadFile(in.bootloader, b.stubPath())
	if err != nil {
		return "", fmt.Errorf("UKI stub: %w", err)
	}
	linux, err := os.ReadFile(in.boot.kernel)
	if err != nil {
		return "", fmt.Errorf("pxe UKI: %w", err)
	}
	initrd, err := os.ReadFile(out.initrd)
	if err != nil {
		return "", fmt.Errorf("pxe UKI: %w", err)
	}
	img, err := uki.Build(uki.Input{Stub: stub, OSRel: b.osRelease(), Cmdline: b.pxeCmdline("", in.usr.verity), Linux: linux, Initrd: initrd})
	if err != nil {
		return "", err
	}
	note := "unsigned (no --secure-boot-keys)"
	if in.sb != nil {
		if img, err = in.sb.SignPE(img, b.epoch()); err != nil {
			return "", fmt.Errorf("sign PXE UKI: %w", err)
		}
		note = "signed with the db key"
	}
	if err := os.WriteFile(out.efi, img, 0o644); err != nil {
		return "", fmt.Errorf("pxe UKI: %w", err)
	}
	return fmt.Sprintf("%d MiB, %s", len(img)>>20, note), nil
}
