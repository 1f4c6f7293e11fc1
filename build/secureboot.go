package build

import (
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/internal/deb"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

// Paths of the Secure Boot layout on the ESP (layout.md).
const (
	stubPath = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub" // in the systemd-boot-efi package
	bootPath = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
	// KeysAutoDir is where systemd-boot looks for PK/KEK/db.auth to
	// enroll (secure-boot-enroll in loader.conf).
	KeysAutoDir = "loader/keys/auto"
)

// loadSecureBoot reads and checks the key directory of
// --secure-boot-keys before anything is built.
func (b *builder) loadSecureBoot() error {
	if b.opts.SecureBootKeys == "" {
		return nil
	}
	ks, err := secureboot.Load(b.opts.SecureBootKeys)
	if err != nil {
		return fmt.Errorf("--secure-boot-keys: %w", err)
	}
	b.sb = ks
	return nil
}

// osRelease goes into the UKI's .osrel section.
func (b *builder) osRelease() []byte {
	return []byte(fmt.Sprintf("ID=imgbuild\nNAME=%q\nVERSION_ID=%q\nPRETTY_NAME=%q\nIMAGE_ID=%q\nIMAGE_VERSION=%q\n",
		b.m.Name, b.m.Version, b.m.Name+" "+b.m.Version, b.m.Name, b.m.Version))
}

// secureBootFiles are the ESP files of a Secure Boot image: systemd-boot
// and slot A's UKI signed with the db key, the .auth files systemd-boot
// enrolls on a machine in setup mode, and the loader.conf asking it to.
func (b *builder) secureBootFiles(paths map[string]string) ([]esp.File, error) {
	pkg := b.debs[BootloaderPackage]
	boot, err := deb.ReadFile(pkg, bootPath)
	if err != nil {
		return nil, fmt.Errorf("systemd-boot: %w", err)
	}
	stub, err := deb.ReadFile(pkg, stubPath)
	if err != nil {
		return nil, fmt.Errorf("UKI stub: %w", err)
	}
	linux, err := os.ReadFile(paths["kernel"])
	if err != nil {
		return nil, fmt.Errorf("UKI: %w", err)
	}
	initrd, err := os.ReadFile(paths["initramfs"])
	if err != nil {
		return nil, fmt.Errorf("UKI: %w", err)
	}
	img, err := uki.Build(uki.Input{Stub: stub, OSRel: b.osRelease(), Cmdline: b.cmdline("a"), Linux: linux, Initrd: initrd})
	if err != nil {
		return nil, err
	}
	signedUKI, err := b.sb.SignPE(img, b.epoch)
	if err != nil {
		return nil, fmt.Errorf("sign UKI: %w", err)
	}
	signedBoot, err := b.sb.SignPE(boot, b.epoch)
	if err != nil {
		return nil, fmt.Errorf("sign systemd-boot: %w", err)
	}
	return []esp.File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: signedBoot},
		{Path: "EFI/systemd/systemd-bootx64.efi", Data: signedBoot},
		{Path: contract.LoaderConf, Data: []byte(loaderConf + "secure-boot-enroll force\n")},
		{Path: KeysAutoDir + "/PK.auth", Data: b.sb.AuthPK},
		{Path: KeysAutoDir + "/KEK.auth", Data: b.sb.AuthKEK},
		{Path: KeysAutoDir + "/db.auth", Data: b.sb.AuthDB},
		{Path: contract.EntryPath("a", contract.DefaultTries), Data: []byte(b.ukiEntry("a"))},
		{Path: contract.UKIPath("a"), Data: signedUKI},
		// The UKI's kernel and initramfs also stay as plain files: the
		// release record names their hashes, and imgbuild verify (and
		// the update flow) read them there. The firmware never runs them.
		fileFrom(contract.KernelPath("a"), paths["kernel"]),
		fileFrom(contract.InitrdPath("a"), paths["initramfs"]),
	}, nil
}
