// Package oci turns a service's container image into a tree for USR: it
// resolves the manifest's reference (a registry, an OCI image layout
// directory or a docker-archive tarball) to the linux/amd64 image the
// digest pins, flattens its layers with their whiteouts, and gives the
// runtime settings its config holds.
package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/imgbuild/imgbuild/manifest"
)

// Platform is the only one images run on.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Image is a resolved image: the linux/amd64 image the reference pins.
type Image struct {
	Image  v1.Image
	Digest v1.Hash // its image manifest's digest
	Config *v1.ConfigFile
	// ConfigDigest is its config blob's digest (Docker's image ID).
	ConfigDigest v1.Hash
}

// Resolve finds ref's linux/amd64 image and checks it against the
// digest: the image manifest's, an index's (whose linux/amd64 image is
// taken) or, for a docker-archive tarball, which has no manifest of its
// own, the config's (the image ID docker shows). A local path is
// relative to the manifest file's directory; opts reach the registry.
func Resolve(ctx context.Context, ref manifest.ImageRef, manifestFile string, opts ...remote.Option) (*Image, error) {
	want, err := v1.NewHash(ref.Digest)
	if err != nil {
		return nil, err
	}
	var img v1.Image
	switch {
	case ref.Registry:
		img, err = fromRegistry(ctx, ref, want, opts)
	default:
		img, err = fromPath(ref.Path(manifestFile), want)
	}
	if err != nil {
		return nil, err
	}
	return check(img, !ref.Registry)
}

// check reads the chosen image's digests and config and refuses another
// platform. For a local image, validate then reads every blob against
// its digest, so a layout or tarball whose files were altered fails
// here, not on the machine; a registry's layers are checked as they
// download (remote verifies every blob it reads), which Flatten does,
// so resolving costs only the manifests and the config.
func check(img v1.Image, local bool) (*Image, error) {
	out := &Image{Image: img}
	var err error
	if out.Digest, err = img.Digest(); err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	if out.ConfigDigest, err = img.ConfigName(); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if out.Config, err = img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if got := out.Config.Platform(); got == nil || got.OS != Platform.OS || got.Architecture != Platform.Architecture {
		return nil, fmt.Errorf("image %s is for %s, not %s", out.Digest, platformName(got), Platform)
	}
	opts := []validate.Option{validate.Fast}
	if local {
		opts = nil
	}
	if err := validate.Image(img, opts...); err != nil {
		return nil, fmt.Errorf("image %s does not match its digests: %w", out.Digest, err)
	}
	return out, nil
}

func platformName(p *v1.Platform) string {
	if p == nil || p.OS == "" {
		return "no platform"
	}
	return p.String()
}

func fromRegistry(ctx context.Context, ref manifest.ImageRef, want v1.Hash, opts []remote.Option) (v1.Image, error) {
	d, err := name.NewDigest(ref.Ref + "@" + ref.Digest)
	if err != nil {
		return nil, err
	}
	// The keychain is docker's and the credential helpers' logins, as
	// crane and skopeo use them; anonymous without one.
	desc, err := remote.Get(d, append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)...)
	if err != nil {
		return nil, err
	}
	if desc.Digest != want {
		return nil, fmt.Errorf("digest mismatch: the registry has %s under %s", desc.Digest, want)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		return platformImage(idx, want)
	}
	return desc.Image()
}

// index is what both a layout and a registry's index give.
type index interface {
	IndexManifest() (*v1.IndexManifest, error)
	Image(v1.Hash) (v1.Image, error)
	ImageIndex(v1.Hash) (v1.ImageIndex, error)
}

// platformImage takes an index's linux/amd64 image.
func platformImage(idx index, digest v1.Hash) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, m := range im.Manifests {
		if m.MediaType.IsImage() && m.Platform != nil && m.Platform.OS == Platform.OS && m.Platform.Architecture == Platform.Architecture {
			return idx.Image(m.Digest)
		}
		if m.Platform != nil {
			have = append(have, m.Platform.String())
		}
	}
	if len(have) == 0 {
		have = []string{"none named"}
	}
	return nil, fmt.Errorf("index %s has no %s image (platforms: %s)", digest, Platform, strings.Join(have, ", "))
}

func fromPath(p string, want v1.Hash) (v1.Image, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: want an OCI image layout directory or a docker-archive tarball", p)
	}
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return fromLayout(p, want)
	}
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: not a docker-archive tarball: %w", p, err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if cfg != want {
		if d, err := img.Digest(); err != nil || d != want {
			return nil, fmt.Errorf("digest mismatch: %s holds image %s (its config's digest, the image ID docker shows), not %s", p, cfg, want)
		}
	}
	return img, nil
}

// fromLayout finds the digest among the layout's manifests, in
// index.json or in an index it lists (skopeo copy --all writes one).
func fromLayout(p string, want v1.Hash) (v1.Image, error) {
	if _, err := os.Stat(p + "/index.json"); err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout (no index.json): %w", p, err)
	}
	top, err := layout.ImageIndexFromPath(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var have []string
	img, err := findIn(top, want, &have, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if img == nil {
		slices.Sort(have)
		return nil, fmt.Errorf("digest mismatch: %s has no manifest %s (it has %s)", p, want, strings.Join(slices.Compact(have), ", "))
	}
	return img, nil
}

func findIn(idx v1.ImageIndex, want v1.Hash, have *[]string, depth int) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range im.Manifests {
		*have = append(*have, m.Digest.String())
		switch {
		case m.Digest == want && m.MediaType.IsImage():
			img, err := idx.Image(want)
			if err != nil {
				return nil, err
			}
			return img, sameDigest(img, want)
		case m.Digest == want && m.MediaType.IsIndex():
			child, err := idx.ImageIndex(want)
			if err != nil {
				return nil, err
			}
			if err := sameDigest(child, want); err != nil {
				return nil, err
			}
			return platformImage(child, want)
		case m.MediaType.IsIndex() && depth < 4:
			child, err := idx.ImageIndex(m.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := findIn(child, want, have, depth+1); img != nil || err != nil {
				return img, err
			}
		}
	}
	return nil, nil
}

// sameDigest hashes the manifest bytes themselves: a layout names its
// blobs by digest but nothing stops a file from being changed.
func sameDigest(m interface{ RawManifest() ([]byte, error) }, want v1.Hash) error {
	raw, err := m.RawManifest()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != want.String() {
		return fmt.Errorf("digest mismatch: manifest %s hashes to %s", want, got)
	}
	return nil
}
