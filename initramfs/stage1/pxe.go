package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/initramfs/stage1/dm"
	"github.com/imgbuild/imgbuild/internal/randomseed"
	"github.com/imgbuild/imgbuild/sign"
)

// runPXE is the diskless boot: no disk is looked at. USR is the file
// the PXE initramfs carries, trusted only through the release record
// beside it, checked exactly as the ESP's; ROOT is a tmpfs.
func runPXE(con *console, cmdline string) error {
	t := time.Now()
	r, err := pxeRecord(cmdline)
	if err != nil {
		return fail("verify USR", err)
	}
	if r.keyID == "" {
		con.printf("UNSIGNED image (allowed by the manifest)")
	}
	if err := pxeDiskImage(con, r, cmdline); err != nil {
		return fail("disk image description", err)
	}
	usrDev, err := pxeUSR(r)
	if err != nil {
		return fail("verify USR", err)
	}
	con.printf("%s", r.describe())
	con.printf("diskless: USR from the initramfs (%s), dm-verity set up in %s", usrDev, seconds(time.Since(t)))
	if err := mountPXESysroot(con, pxeLocalRoot(con, cmdline), usrDev); err != nil {
		return fail("mount", err)
	}
	if l, err := randomseed.Load(sysroot+contract.RandomSeed, randomseed.Linux{}); err != nil {
		con.printf("%v", err)
	} else {
		con.printf("%s", l)
	}
	if err := checkInit(sysroot + contract.SysinitPath); err != nil {
		return fail("USR", err)
	}
	con.printf("switching to USR (diskless) after %s", seconds(sinceBoot()))
	return fail("switch root", switchRoot(sysroot, contract.SysinitPath, []string{"/dev", "/proc", "/sys", "/run"}))
}

// pxeRecord checks the initramfs's release record as the disk boot
// checks the ESP's: a present signature must verify against the trusted
// keys, a missing one needs the allow-unsigned marker, and the command
// line's root hash must be the record's.
func pxeRecord(cmdline string) (*slotRecord, error) {
	t, err := loadTrust(contract.KeysDir, contract.AllowUnsignedFile)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	record, err := os.ReadFile(contract.PXERecordFile)
	if err != nil {
		return nil, fmt.Errorf("release record: %w (not a PXE initramfs?)", err)
	}
	sig, err := readOptional(contract.PXESigFile)
	if err != nil {
		return nil, err
	}
	r := &slotRecord{}
	switch {
	case sig != nil:
		if r.rec, err = sign.Verify(record, sig, t.keys); err != nil {
			return nil, fmt.Errorf("%s: %w", contract.PXESigFile, err)
		}
		r.keyID = signer(record, sig, t.keys)
	case t.allowUnsigned:
		if r.rec, err = sign.ParseRecord(record); err != nil {
			return nil, fmt.Errorf("%s: %w", contract.PXERecordFile, err)
		}
	default:
		return nil, fmt.Errorf("%s is missing from the initramfs: the release record is not signed, and this initramfs does not allow unsigned images", contract.PXESigFile)
	}
	if r.params, err = verityParams(r.rec); err != nil {
		return nil, fmt.Errorf("%s: %w", contract.PXERecordFile, err)
	}
	if v, ok := contract.Param(cmdline, contract.KeyVerity); ok && v != r.rec.VerityRoot {
		return nil, fmt.Errorf(contract.KeyVerity+"=%s on the kernel command line differs from the root hash %s of the %s release record: refusing to boot",
			v, r.rec.VerityRoot, signedWord(r.keyID))
	}
	return r, nil
}

// pxeUSR sets up dm-verity over a loop device on the initramfs's USR.
func pxeUSR(r *slotRecord) (string, error) {
	st, err := os.Stat(contract.PXEUSRFile)
	if err != nil {
		return "", fmt.Errorf("USR: %w", err)
	}
	if st.Size() != r.rec.USRSize {
		return "", fmt.Errorf("%s is %d bytes, the release record says %d", contract.PXEUSRFile, st.Size(), r.rec.USRSize)
	}
	loop, err := attachLoop(contract.PXEUSRFile)
	if err != nil {
		return "", err
	}
	return dm.CreateVerity(usrMapperName, loop, r.params)
}

// pxeDiskImage checks the description of the disk image the installer
// may write and leaves it in /run for sysinit, which cannot read the
// initramfs after switch_root. Only an install asked for on the command
// line makes a missing or bad description stop the boot.
func pxeDiskImage(con *console, r *slotRecord, cmdline string) error {
	_, install := contract.Param(cmdline, contract.KeyInstall)
	data, err := os.ReadFile(contract.PXEInstallFile)
	if err == nil {
		err = checkDiskImage(data, r)
	}
	if err != nil {
		if install {
			return err
		}
		con.printf("no usable disk image description (%v); installing is not possible on this boot", err)
		return nil
	}
	if err := os.MkdirAll(contract.RunDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(contract.RunDir, filepath.Base(contract.PXEInstallFile)), data, 0o444)
}

// checkDiskImage verifies the description as the record was: signed by
// a trusted key, or unsigned only beside an unsigned record (which the
// initramfs allowed); it must name the same release (verity root).
func checkDiskImage(data []byte, r *slotRecord) error {
	sig, err := readOptional(contract.PXEInstallSigFile)
	if err != nil {
		return err
	}
	t, err := loadTrust(contract.KeysDir, contract.AllowUnsignedFile)
	if err != nil {
		return err
	}
	switch {
	case sig != nil:
		if err := sign.VerifyBytes(sign.DiskImageContext, data, sig, t.keys); err != nil {
			return fmt.Errorf("%s: %w", contract.PXEInstallSigFile, err)
		}
	case r.keyID != "":
		return fmt.Errorf("%s is missing, but the release record is signed", contract.PXEInstallSigFile)
	}
	d, err := sign.ParseDiskImage(data)
	if err != nil {
		return err
	}
	if d.VerityRoot != r.rec.VerityRoot {
		return fmt.Errorf("%s describes the release with root hash %s, not this one (%s)", contract.PXEInstallFile, short(d.VerityRoot), short(r.rec.VerityRoot))
	}
	return nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// mountPXESysroot mounts ROOT, the local disk's partition rootDev or a
// tmpfs (without one, or when it does not mount), and USR on its /usr.
func mountPXESysroot(con *console, rootDev, usrDev string) error {
	if rootDev != "" {
		err := mount(rootMount(rootDev))
		if err == nil {
			con.printf("ROOT: ext4 on %s (%s=: kept across boots)", rootDev, contract.KeyPXERoot)
			return mountUSR(usrDev)
		}
		con.printf("ROOT: not using %s: %v", rootDev, err)
	}
	if err := mount(mountSpec{"tmpfs", sysroot, "tmpfs", 0, "mode=0755"}); err != nil {
		return err
	}
	con.printf("ROOT: tmpfs (diskless: nothing is kept across boots)")
	return mountUSR(usrDev)
}
