package build

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgbuild/imgbuild/build/oci"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/squashfs"
	"github.com/imgbuild/imgbuild/manifest"
)

// imageOut is a container service's image, flattened, with the process
// its config and the manifest's overrides give.
type imageOut struct {
	tree *oci.Tree
	proc oci.Process
}

// imageField is the manifest field of service i's image, for errors.
func imageField(m *manifest.Manifest, i int) string {
	return m.Where(fmt.Sprintf("services[%d].image", i))
}

// resolveImage finds service i's linux/amd64 image.
func resolveImage(ctx context.Context, m *manifest.Manifest, i int) (*oci.Image, error) {
	s := m.Services[i]
	ref, err := manifest.ParseImageRef(s.Image)
	if err == nil {
		var img *oci.Image
		if img, err = oci.Resolve(ctx, ref, m.File); err == nil {
			return img, nil
		}
	}
	return nil, fmt.Errorf("%s: service %s: image %s: %w", imageField(m, i), s.Name, s.Image, err)
}

// pinImages settles the lock's images: a pin is kept while the
// manifest's reference is the one it records.
func pinImages(ctx context.Context, m *manifest.Manifest, old, l *manifest.Lock, mode LockMode) ([]string, error) {
	var changes []string
	for i, s := range m.Services {
		if s.Image == "" {
			continue
		}
		if l.Images == nil {
			l.Images = map[string]manifest.ImagePin{}
		}
		if pin, ok := old.Images[s.Name]; ok && pin.Image == s.Image && mode != LockRepin {
			l.Images[s.Name] = pin
			continue
		}
		if mode == LockFrozen {
			changes = append(changes, fmt.Sprintf("the image of service %s (%s) is not pinned", s.Name, s.Image))
			continue
		}
		img, err := resolveImage(ctx, m, i)
		if err != nil {
			return nil, err
		}
		pin := manifest.ImagePin{Image: s.Image, Digest: img.Digest.String(), Config: img.ConfigDigest.String()}
		if old.Images[s.Name] != pin {
			changes = append(changes, fmt.Sprintf("the image of service %s pinned to %s", s.Name, pin.Digest))
		}
		l.Images[s.Name] = pin
	}
	return changes, nil
}

// fetchImage flattens service i's image into the cache, keyed by the
// pinned digest, so a later build of the same image reads nothing.
func (b *builder) fetchImage(ctx context.Context, i int) (imageOut, string, error) {
	s := b.m.Services[i]
	pin := b.lock.Images[s.Name]
	dir, hit, err := b.cached("image", key("flat-1", pin.Digest), "config.json", func(p string) error {
		img, err := resolveImage(ctx, b.m, i)
		if err != nil {
			return err
		}
		if img.Digest.String() != pin.Digest {
			return fmt.Errorf("%s: service %s: image %s is now %s, but %s pins %s: re-pin with %s",
				imageField(b.m, i), s.Name, s.Image, img.Digest, lockName(b.m, b.lock), pin.Digest, repinHint)
		}
		if err := oci.Flatten(img.Image, filepath.Dir(p)); err != nil {
			return fmt.Errorf("%s: service %s: image %s: %w", imageField(b.m, i), s.Name, s.Image, err)
		}
		return writeJSON(p, img.Config)
	})
	if err != nil {
		return imageOut{}, "", err
	}
	var cfg v1.ConfigFile
	if err := readJSON(dir, &cfg); err != nil {
		return imageOut{}, "", fmt.Errorf("image cache %s: %w", dir, err)
	}
	tree, err := oci.LoadTree(filepath.Dir(dir))
	if err != nil {
		return imageOut{}, "", fmt.Errorf("image cache: %w", err)
	}
	proc, err := oci.Runtime(&cfg, s)
	if err != nil {
		return imageOut{}, "", fmt.Errorf("%s: service %s: image %s: %w", imageField(b.m, i), s.Name, s.Image, err)
	}
	detail := fmt.Sprintf("%s, %d files", pin.Digest[:19], len(tree.Entries))
	if hit {
		detail = "cached: " + detail
	}
	return imageOut{tree: tree, proc: proc}, detail, nil
}

// imageRoot is where service name's tree lies in USR, relative to it.
func imageRoot(name string) string {
	return strings.TrimPrefix(contract.ImagesDir, "/usr/") + "/" + name + "/rootfs"
}

// imageEntries lays out a container service's tree on USR, adding the
// mount points the runtime needs and the image lacks (USR is read-only
// on the machine, so they cannot be made there).
func imageEntries(s manifest.Service, img imageOut) ([]squashfs.Entry, error) {
	root := imageRoot(s.Name)
	have := map[string]oci.Entry{}
	var es []squashfs.Entry
	for _, e := range img.tree.Entries {
		have[e.Path] = e
		// The image's times, not the build's: fixed by the digest
		// already, and what a server in the image says of its files.
		se := squashfs.Entry{Path: path.Join(root, e.Path), Mode: e.Mode, UID: e.UID, GID: e.GID, Target: e.Target, Rdev: e.Rdev,
			ModTime: time.Unix(e.ModTime, 0)}
		if e.Mode.IsRegular() {
			se.Size = e.Size
			se.Open = func() (io.ReadCloser, error) { return img.tree.Open(e) }
		}
		es = append(es, se)
	}
	dirs := []string{"proc", "dev", "tmp"}
	if st := s.State; st != nil {
		dirs = append(dirs, strings.TrimPrefix(st.Mount, "/"))
	}
	for _, d := range dirs {
		for p := d; p != "." && p != ""; p = path.Dir(p) {
			e, ok := have[p]
			if ok && !e.Mode.IsDir() {
				return nil, fmt.Errorf("the image's /%s is not a directory, and /%s is a mount point", p, d)
			}
			if !ok {
				have[p] = oci.Entry{Path: p, Mode: fs.ModeDir | 0o755}
				es = append(es, squashfs.Entry{Path: path.Join(root, p), Mode: fs.ModeDir | 0o755})
			}
		}
	}
	// The host's resolv.conf (from DHCP) is bound over this one.
	if s.NetworkMode == "host" {
		if _, ok := have["etc/resolv.conf"]; !ok {
			if e, ok := have["etc"]; !ok || e.Mode.IsDir() {
				es = append(es, bytesEntry(path.Join(root, "etc/resolv.conf"), nil, 0o644, 0, 0))
			}
		}
	}
	return es, nil
}

// containerOf is a container service's runtime settings.
func containerOf(s manifest.Service) *contract.Container {
	c := &contract.Container{Root: "/usr/" + imageRoot(s.Name), Image: s.Image, Network: s.NetworkMode}
	if st := s.State; st != nil {
		c.State = &contract.Bind{Source: st.Dir, Target: st.Mount}
	}
	return c
}
