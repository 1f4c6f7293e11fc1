package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/uki"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/fsutil"
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

// ukiSlots are the slots a Secure Boot build makes a UKI for: slot A's
// goes on the ESP, and both go into a release, since an update writes
// the passive slot's UKI and its signed .cmdline must name that slot.
var ukiSlots = []string{"a", "b"}

// ukiKind is the artifact kind of a slot's signed UKI (repo.KindUKI + slot).
func ukiKind(slot string) string { return "uki-" + slot }

// ukis builds and signs each slot's UKI into the staging directory,
// before the release record, which names their sha256.
func (b *builder) ukis(paths map[string]string) (string, error) {
	stub, err := deb.ReadFile(b.debs[BootloaderPackage], stubPath)
	if err != nil {
		return "", fmt.Errorf("UKI stub: %w", err)
	}
	linux, err := os.ReadFile(paths["kernel"])
	if err != nil {
		return "", fmt.Errorf("UKI: %w", err)
	}
	initrd, err := os.ReadFile(paths["initramfs"])
	if err != nil {
		return "", fmt.Errorf("UKI: %w", err)
	}
	for _, slot := range ukiSlots {
		img, err := uki.Build(uki.Input{Stub: stub, OSRel: b.osRelease(), Cmdline: b.cmdline(slot), Linux: linux, Initrd: initrd})
		if err != nil {
			return "", fmt.Errorf("UKI of slot %s: %w", slot, err)
		}
		signed, err := b.sb.SignPE(img, b.epoch)
		if err != nil {
			return "", fmt.Errorf("sign UKI of slot %s: %w", slot, err)
		}
		if err := os.WriteFile(paths[ukiKind(slot)], signed, 0o644); err != nil {
			return "", fmt.Errorf("UKI of slot %s: %w", slot, err)
		}
	}
	return fmt.Sprintf("slots %s signed with db key", strings.Join(ukiSlots, ", ")), nil
}

// ukiPaths adds the staged UKI files of a Secure Boot build to paths.
func (b *builder) ukiPaths(stage, name string, paths map[string]string) {
	if b.sb == nil {
		return
	}
	for _, slot := range ukiSlots {
		paths[ukiKind(slot)] = filepath.Join(stage, name+"."+ukiKind(slot)+".efi")
	}
}

// ukiKinds are the UKI artifacts finish publishes.
func (b *builder) ukiKinds() []string {
	if b.sb == nil {
		return nil
	}
	kinds := make([]string, 0, len(ukiSlots))
	for _, slot := range ukiSlots {
		kinds = append(kinds, ukiKind(slot))
	}
	return kinds
}

// ukiSums are the sha256 of each slot's UKI, for the release record;
// nil without Secure Boot.
func (b *builder) ukiSums(paths map[string]string) (map[string]string, error) {
	if b.sb == nil {
		return nil, nil
	}
	sums := map[string]string{}
	for _, slot := range ukiSlots {
		sum, _, err := fsutil.FileSHA256(paths[ukiKind(slot)])
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
func (b *builder) secureBootFiles(paths map[string]string) ([]fat.File, error) {
	boot, err := deb.ReadFile(b.debs[BootloaderPackage], bootPath)
	if err != nil {
		return nil, fmt.Errorf("systemd-boot: %w", err)
	}
	signedBoot, err := b.sb.SignPE(boot, b.epoch)
	if err != nil {
		return nil, fmt.Errorf("sign systemd-boot: %w", err)
	}
	return []fat.File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: signedBoot},
		{Path: "EFI/systemd/systemd-bootx64.efi", Data: signedBoot},
		{Path: contract.LoaderConf, Data: []byte(loaderConf + "secure-boot-enroll force\n")},
		{Path: KeysAutoDir + "/PK.auth", Data: b.sb.AuthPK},
		{Path: KeysAutoDir + "/KEK.auth", Data: b.sb.AuthKEK},
		{Path: KeysAutoDir + "/db.auth", Data: b.sb.AuthDB},
		{Path: contract.EntryPath("a", contract.DefaultTries), Data: []byte(b.ukiEntry("a"))},
		fileFrom(contract.UKIPath("a"), paths[ukiKind("a")]),
		// The UKI's kernel and initramfs also stay as plain files: the
		// release record names their hashes, and imgbuild verify (and
		// the update flow) read them there. The firmware never runs them.
		fileFrom(contract.KernelPath("a"), paths["kernel"]),
		fileFrom(contract.InitrdPath("a"), paths["initramfs"]),
	}, nil
}
