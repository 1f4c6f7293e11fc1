package build

import (
	"fmt"
	"path/filepath"

	"github.com/imgbuild/imgbuild/kernel"
)

// kernelPhase takes the kernel from its Debian package or from local
// files, computes the closure of the modules stage-1 loads, and copies
// vmlinuz to the staged outputs.
func (b *builder) kernelPhase(paths map[string]string) (string, error) {
	var k *kernel.Kernel
	var err error
	if b.m.Kernel.Package != "" {
		k, err = kernel.FromDeb(b.debs[b.m.Kernel.Package], b.opts.CacheDir)
	} else {
		k, err = kernel.FromLocal(b.rel(b.m.Kernel.Path), b.rel(b.m.Kernel.ModulesDir))
	}
	if err != nil {
		return "", fmt.Errorf("%s: kernel: %w", b.m.File, err)
	}
	want := append(append([]string(nil), kernel.DefaultModules...), b.pxeExtraModules()...)
	mods, err := k.Closure(append(want, b.m.Kernel.Modules...))
	if err != nil {
		return "", fmt.Errorf("%s: kernel.modules: %w", b.m.File, err)
	}
	b.kernel, b.modules = k, mods
	if err := copyFile(k.VmlinuzPath, paths["kernel"]); err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	return fmt.Sprintf("%s, %d modules", k.Release, len(mods)), nil
}

// rel resolves a manifest path against the manifest's directory.
func (b *builder) rel(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(b.m.File), p)
}
