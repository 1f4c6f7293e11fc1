// Package kernel unpacks a Linux kernel package and computes the closure of
// the modules an image needs from each module's own .modinfo, since
// Debian's kernel package ships no modules.dep.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Kernel is an unpacked kernel: its image and its modules tree.
type Kernel struct {
	Release     string // e.g. 6.1.0-56-cloud-amd64
	VmlinuzPath string
	ModulesDir  string // .../lib/modules/<Release>

	indexOnce sync.Once
	idx       *index
	idxErr    error
}

// FromDeb unpacks a linux-image .deb into cacheDir/kernels/<sha256 of the
// deb> (reused when present) and locates vmlinuz and the modules dir.
func FromDeb(debPath, cacheDir string) (*Kernel, error) {
	sum, _, err := fsutil.FileSHA256(debPath)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	dir, err := unpackCached(debPath, filepath.Join(cacheDir, "kernels"), sum)
	if err != nil {
		return nil, fmt.Errorf("kernel: unpack %s: %w", debPath, err)
	}
	k, err := locate(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel: %s: %w", debPath, err)
	}
	return k, nil
}

// unpackCached extracts into a temporary dir and renames it into place, so
// a cache entry that exists is always complete.
func unpackCached(debPath, parent, sum string) (string, error) {
	dir := filepath.Join(parent, sum)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		if fsutil.CheckSums(dir) == nil {
			return dir, nil
		}
		// A bit flip or a truncation must not reach the image: unpack again.
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	// A lost race means another process finished the same unpack first.
	if _, err := fsutil.MakeDir(dir, func(tmp string) error {
		if err := deb.Extract(debPath, tmp); err != nil {
			return err
		}
		return fsutil.WriteSums(tmp)
	}); err != nil {
		return "", err
	}
	return dir, nil
}

// locate finds boot/vmlinuz-<release> and its lib/modules/<release>.
func locate(root string) (*Kernel, error) {
	images, err := fsutil.Match(filepath.Join(root, "boot"), "vmlinuz-*")
	if err != nil {
		return nil, fmt.Errorf("find boot/vmlinuz-*: %w", err)
	}
	if len(images) != 1 {
		return nil, fmt.Errorf("want exactly one boot/vmlinuz-*, found %d", len(images))
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	for _, lib := range []string{"lib", "usr/lib"} {
		mods := filepath.Join(root, lib, "modules", release)
		if fi, err := os.Stat(mods); err == nil && fi.IsDir() {
			return &Kernel{Release: release, VmlinuzPath: images[0], ModulesDir: mods}, nil
		}
	}
	return nil, fmt.Errorf("no lib/modules/%s next to %s", release, images[0])
}

// FromLocal uses a kernel image and modules tree that are already on disk
// (a kernel built locally). The release is the modules dir's name.
func FromLocal(bzImage, modulesDir string) (*Kernel, error) {
	img, err := filepath.Abs(bzImage)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	mods, err := filepath.Abs(modulesDir)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if fi, err := os.Stat(img); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("kernel: %s is not a regular file", img)
	}
	if fi, err := os.Stat(mods); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	} else if !fi.IsDir() {
		return nil, errors.New("kernel: " + mods + " is not a directory")
	}
	return &Kernel{Release: filepath.Base(mods), VmlinuzPath: img, ModulesDir: mods}, nil
}
