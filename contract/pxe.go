package contract

import "strings"

// PXE: the diskless boot from RAM and the installer (docs/layout.md,
// "PXE"). The PXE initramfs is the disk's initramfs followed by a second,
// uncompressed cpio archive holding the files below.
const (
	// KeyPXE (=1) tells stage-1 that there is no disk: USR comes from
	// PXEUSRFile in the initramfs, ROOT is a tmpfs.
	KeyPXE = "imgbuild.pxe"
	// KeyPXERoot names the local disk (/dev/vda, /dev/nvme0n1) a
	// diskless boot keeps ROOT on instead of a tmpfs: the partition of
	// its GPT named ROOT.Label, of type TypeROOT, holding ext4, is
	// mounted; a blank disk (no partition table, first and last MiB
	// zero) first gets a GPT with one such partition filling it; any
	// other disk is left alone and ROOT is a tmpfs, as without the key.
	KeyPXERoot = "imgbuild.pxe.root"
	// KeyInstall names the local disk (/dev/vda) the installer writes
	// the image to, from KeyInstallURL; the installer runs only on a
	// diskless (KeyPXE) boot.
	KeyInstall    = "imgbuild.install"
	KeyInstallURL = "imgbuild.install.url"

	// PXEUSRFile is USR: squashfs, padding and dm-verity hash area, the
	// same bytes as the disk's USR-A partition content.
	PXEUSRFile = "/usr.img"
	// PXERecordFile and PXESigFile are the release record and its
	// signature (absent in unsigned builds), as on the ESP.
	PXERecordFile = "/release.json"
	PXESigFile    = "/release.sig"
	// PXEInstallFile and PXEInstallSigFile describe the disk image the
	// installer may write (sign.DiskImage) and carry its signature.
	PXEInstallFile    = "/install.json"
	PXEInstallSigFile = "/install.sig"

	// RunDir is where stage-1 leaves, for sysinit, what it verified in
	// the initramfs (which switch_root frees): RunDir+PXEInstallFile is
	// the disk image description, checked against the trusted keys.
	RunDir = "/run/imgbuild"

	// PXELoopModule is the module a diskless boot needs beyond the
	// disk's: USR is a loop device over PXEUSRFile.
	PXELoopModule = "loop"
)

// PXEArgs are the imgbuild keys of a diskless boot's command line;
// initrd is the PXE initramfs's file name, which iPXE under EFI needs
// as initrd= to hand the initramfs to the kernel's EFI stub.
func PXEArgs(initrd string) []string {
	args := []string{KeyPXE + "=1"}
	if initrd != "" {
		args = append([]string{"initrd=" + initrd}, args...)
	}
	return args
}

// IsPXE says whether a kernel command line asks for the diskless boot.
func IsPXE(cmdline string) bool {
	v, ok := Param(cmdline, KeyPXE)
	return ok && v != "0" && strings.ToLower(v) != "no"
}
