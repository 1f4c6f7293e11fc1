package manifest

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// ImageRef is a service's image: where it comes from and the digest
// that pins it.
type ImageRef struct {
	// Ref is the part before @: a registry reference, or a path
	// relative to the manifest.
	Ref string
	// Digest is sha256:<64 hex digits>, an image manifest's or an
	// image index's.
	Digest string
	// Registry is set when Ref names a registry rather than a path.
	Registry bool
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ParseImageRef reads REF@sha256:DIGEST. REF is a registry reference when
// its first component looks like a host (has a dot or a colon, or is
// localhost) and more follows, as Docker decides; anything else is a
// path, so oci-app and app.tar are files beside the manifest and a
// registry's image is written in full (docker.io/library/nginx).
func ParseImageRef(s string) (ImageRef, error) {
	ref, digest, ok := strings.Cut(s, "@")
	if !ok {
		return ImageRef{}, errors.New("name the image by digest, REF@sha256:<64 hex digits>: a tag can move, a digest pins the image")
	}
	if !digestRE.MatchString(digest) {
		return ImageRef{}, fmt.Errorf("digest %q: want sha256:<64 lower-case hex digits>", digest)
	}
	if ref == "" {
		return ImageRef{}, errors.New("nothing before @: want a registry reference or a path relative to the manifest")
	}
	r := ImageRef{Ref: ref, Digest: digest}
	host, rest, hasSlash := strings.Cut(ref, "/")
	if hasSlash && rest != "" && !strings.HasPrefix(ref, ".") && (strings.ContainsAny(host, ".:") || host == "localhost") {
		r.Registry = true
		if last := ref[strings.LastIndex(ref, "/")+1:]; strings.Contains(last, ":") {
			return ImageRef{}, fmt.Errorf("registry reference %q has a tag: give the digest alone, %s@%s", ref, ref[:len(ref)-len(last)+strings.Index(last, ":")], digest)
		}
	}
	return r, nil
}

// Path is the local image's path, resolved against the manifest's
// directory; "" for a registry image.
func (r ImageRef) Path(manifestFile string) string {
	if r.Registry {
		return ""
	}
	if filepath.IsAbs(r.Ref) {
		return r.Ref
	}
	return filepath.Join(filepath.Dir(manifestFile), r.Ref)
}
