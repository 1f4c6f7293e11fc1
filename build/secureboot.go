package build

import (
	"fmt"
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/sign/secureboot"
)

// efiArch is UEFI's name of the image's arch, which names systemd-boot's
// files and the removable-media boot path the firmware starts.
func (b *builder) efiArch() string {
	if b.m.Arch == "arm64" {
		return "aa64"
	}
	return "x64"
}

// stubPath is the UKI stub in the systemd-boot-efi package; bootPath is
// systemd-boot there.
func (b *builder) stubPath() string {
	return "/usr/lib/systemd/boot/efi/linux" + b.efiArch() + ".efi.stub"
}

func (b *builder) bootPath() string {
	return "/usr/lib/systemd/boot/efi/systemd-boot" + b.efiArch() + ".efi"
}

// bootloaderFiles puts systemd-boot where the firmware finds it
// (EFI/BOOT/BOOTX64.EFI, BOOTAA64.EFI on arm64) and under its own name.
func (b *builder) bootloaderFiles(boot []byte) []fat.File {
	return []fat.File{
		{Path: "EFI/BOOT/BOOT" + strings.ToUpper(b.efiArch()) + ".EFI", Data: boot},
		{Path: "EFI/systemd/systemd-boot" + b.efiArch() + ".efi", Data: boot},
	}
}

// Paths of the Secure Boot layout on the ESP (layout.md).
const (
	// KeysAutoDir is where systemd-boot looks for PK/KEK/db.auth to
	// enroll (secure-boot-enroll in loader.conf).
	KeysAutoDir = "loader/keys/auto"
)

// loadSecureBoot reads and checks the key directory of
// --secure-boot-keys before anything is built; nil: no Secure Boot
// layout.
func (b *builder) loadSecureBoot() (*secureboot.KeySet, error) {
	if b.opts.SecureBootKeys == "" {
		return nil, nil
	}
	ks, err := secureboot.Load(b.opts.SecureBootKeys)
	if err != nil {
		return nil, fmt.Errorf("--secure-boot-keys: %w", err)
	}
	return ks, nil
}

// osRelease goes into the UKI's .osrel section.
func (b *builder) osRelease() []byte {
	return []byte(fmt.Sprintf("ID=imgbuild\nNAME=%q\nVERSION_ID=%q\nPRETTY_NAME=%q\nIMAGE_ID=%q\nIMAGE_VERSION=%q\n",
		b.m.Name, b.m.Version, b.m.Name+" "+b.m.Version, b.m.Name, b.m.Version))
}

// ukiSlots are the slots a Secure Boot build makes a UKI for: slot A's
// goes on the ESP, and both go into a release, since an update writes
// the passive slot's UKI and its signed .cmdline must name that slot.
var ukiSlots = []string{"a", "b"}

// ukiKind is the artifact kind of a slot's signed UKI (repo.KindUKI + slot).
func ukiKind(slot string) string { return "uki-" + slot }

// ukiIn is what a slot's UKI is made of, and the keys that sign it.
type ukiIn struct {
	boot       bootFiles
	bootloader string         // the systemd-boot-efi package: the stub
	verity     *verity.Params // USR's, for the command line
	sb         *secureboot.KeySet
}

// ukis builds and signs each slot's UKI into the staging directory,
// before the release record, which names their sha256. It returns the
// staged file of each slot.
func (b *builder) ukis(in ukiIn) (map[string]string, string, error) {
	stub, err := deb.ReadFile(in.bootloader, b.stubPath())
	if err != nil {
		return nil, "", fmt.Errorf("UKI stub: %w", err)
	}
	linux, err := os.ReadFile(in.boot.kernel)
	if err != nil {
		return nil, "", fmt.Errorf("UKI: %w", err)
	}
	initrd, err := os.ReadFile(in.boot.initramfs)
	if err != nil {
		return nil, "", fmt.Errorf("UKI: %w", err)
	}
	out := map[string]string{}
	for _, slot := range ukiSlots {
		img, err := uki.Build(uki.Input{Stub: stub, OSRel: b.osRelease(), Cmdline: b.cmdline(slot, in.verity), Linux: linux, Initrd: initrd})
		if err != nil {
			return nil, "", fmt.Errorf("UKI of slot %s: %w", slot, err)
		}
		signed, err := in.sb.SignPE(img, b.epoch())
		if err != nil {
			return nil, "", fmt.Errorf("sign UKI of slot %s: %w", slot, err)
		}
		out[slot] = b.staged("." + ukiKind(slot) + ".efi")
		if err := os.WriteFile(out[slot], signed, 0o644); err != nil {
			return nil, "", fmt.Errorf("UKI of slot %s: %w", slot, err)
		}
	}
	return out, fmt.Sprintf("slots %s signed with db key", strings.Join(ukiSlots, ", ")), nil
}

// ukiSums are the sha256 of each slot's UKI, for the release record;
// nil without Secure Boot.
func ukiSums(ukis map[string]string) (map[string]string, error) {
	if ukis == nil {
		return nil, nil
	}
	sums := map[string]string{}
	for _, slot := range ukiSlots {
		sum, _, err := fsutil.FileSHA256(ukis[slot])
		if err != nil {
			return nil, fmt.Errorf("UKI of slot %s: %w", slot, err)
		}
		sums[slot] = sum
	}
	return sums, nil
}

// secureBootFiles are the ESP files of a Secure Boot image: systemd-boot
// signed with the db key, slot A's signed UKI (from ukis), the .auth
// files systemd-boot enrolls on a machine in setup mode, and the
// loader.conf asking it to.
func (b *builder) secureBootFiles(in diskIn) ([]fat.File, error) {
	boot, err := deb.ReadFile(in.bootloader, b.bootPath())
	if err != nil {
		return nil, fmt.Errorf("systemd-boot: %w", err)
	}
	signedBoot, err := in.sb.SignPE(boot, b.epoch())
	if err != nil {
		return nil, fmt.Errorf("sign systemd-boot: %w", err)
	}
	return append(b.bootloaderFiles(signedBoot), []fat.File{
		{Path: contract.LoaderConf, Data: []byte(loaderConf + "secure-boot-enroll force\n")},
		{Path: KeysAutoDir + "/PK.auth", Data: in.sb.AuthPK},
		{Path: KeysAutoDir + "/KEK.auth", Data: in.sb.AuthKEK},
		{Path: KeysAutoDir + "/db.auth", Data: in.sb.AuthDB},
		{Path: contract.EntryPath("a", contract.DefaultTries), Data: []byte(b.ukiEntry("a"))},
		fileFrom(contract.UKIPath("a"), in.uki["a"]),
		// The UKI's kernel and initramfs also stay as plain files: the
		// release record names their hashes, and imgbuild verify (and
		// the update flow) read them there. The firmware never runs them.
		fileFrom(contract.KernelPath("a"), in.boot.kernel),
		fileFrom(contract.InitrdPath("a"), in.boot.initramfs),
	}...), nil
}
