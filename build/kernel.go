package build

import (
	"fmt"
	"path/filepath"

	"github.com/imgbuild/imgbuild/kernel"
)

// kernelIn is what the kernel phase reads besides the manifest.
type kernelIn struct {
	deb string // the kernel's Debian package; unused for a local kernel
}

// kernelOut is the staged vmlinuz and the modules stage-1 loads.
type kernelOut struct {
	vmlinuz string
	modules []kernel.Module
}

// kernelPhase takes the kernel from its Debian package or from local
// files, computes the closure of the modules stage-1 loads, and copies
// vmlinuz to the staged outputs.
func (b *builder) kernelPhase(in kernelIn) (kernelOut, string, error) {
	var k *kernel.Kernel
	var err error
	if b.m.Kernel.Package != "" {
		k, err = kernel.FromDeb(in.deb, b.opts.CacheDir)
	} else {
		k, err = kernel.FromLocal(b.rel(b.m.Kernel.Path), b.rel(b.m.Kernel.ModulesDir))
	}
	if err != nil {
		return kernelOut{}, "", fmt.Errorf("%s: kernel: %w", b.m.File, err)
	}
	want := append(append([]string(nil), kernel.DefaultModulesFor(b.m.Arch)...), b.pxeExtraModules()...)
	mods, err := k.Closure(append(want, b.m.Kernel.Modules...))
	if err != nil {
		return kernelOut{}, "", fmt.Errorf("%s: kernel.modules: %w", b.m.File, err)
	}
	out := kernelOut{vmlinuz: b.staged(".vmlinuz"), modules: mods}
	if err := copyFile(k.VmlinuzPath, out.vmlinuz); err != nil {
		return kernelOut{}, "", fmt.Errorf("kernel: %w", err)
	}
	return out, fmt.Sprintf("%s, %d modules", k.Release, len(mods)), nil
}

// rel resolves a manifest path against the manifest's directory.
func (b *builder) rel(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(b.m.File), p)
}
