package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/kernel"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// initramfsIn is what goes into the initramfs.
type initramfsIn struct {
	stage1  string
	modules []kernel.Module // the kernel phase's closure
	keys    signingKeys
}

// initramfs writes the initramfs: stage-1, the kernel's module closure
// and the trusted keys, after the kernel phase. It returns the staged
// file.
func (b *builder) initramfs(p initramfsIn) (string, string, error) {
	in := initramfs.Input{Init: p.stage1, MTime: b.lock.SourceDateEpoch, Files: p.keys.trustFiles()}
	for _, m := range p.modules {
		in.Modules = append(in.Modules, initramfs.Module{Name: m.Name, Path: m.Path, Asked: m.Asked, DeviceAliases: m.DeviceAliases, Depends: m.Depends})
	}
	out := b.staged(".initrd")
	hit, err := b.writeInitramfs(out, in)
	if err != nil {
		return "", "", err
	}
	return out, cacheNote(hit, fmt.Sprintf("stage-1, %d modules", len(p.modules))), nil
}

// writeInitramfs writes the initramfs to out through the cache.
func (b *builder) writeInitramfs(out string, in initramfs.Input) (bool, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00initramfs\x00%d\n", toolHash(), in.MTime)
	files := []string{in.Init}
	names := []string{"init"}
	for _, m := range in.Modules {
		files, names = append(files, m.Path), append(names, m.Name)
		// What stage-1 loads when: from the manifest, not the files.
		fmt.Fprintf(h, "%q %t %q\n", m.Name, m.Asked, m.Depends)
	}
	for i, f := range files {
		sum, _, err := fsutil.FileSHA256(f)
		if err != nil {
			return false, fmt.Errorf("initramfs: %w", err)
		}
		fmt.Fprintf(h, "%q %q %s\n", names[i], filepath.Base(f), sum)
	}
	for _, f := range in.Files {
		fmt.Fprintf(h, "%q %o %x\n", f.Path, f.Mode, sha256.Sum256(f.Data))
	}
	path, hit, err := b.cached("initramfs", hex.EncodeToString(h.Sum(nil)), "initrd", func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := initramfs.Write(f, in); err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		return false, err
	}
	return hit, cachedCopy(path, out)
}
