package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Lock pins every input of a build so that a later build uses exactly
// the same ones. It lives next to the manifest as NAME.lock.
type Lock struct {
	// SourceDateEpoch is the time stamped into every file system and
	// archive when SOURCE_DATE_EPOCH is not set in the environment.
	SourceDateEpoch int64 `yaml:"source_date_epoch"`
	// GoToolchain is the Go version that built the on-image programs
	// and Go binaries; another toolchain gives other bytes.
	GoToolchain string `yaml:"go_toolchain"`
	// Archive pins the Debian archives the packages come from and the
	// keys that must sign their indexes; a lock without it means
	// Debian bookworm (see build.DefaultArchive).
	Archive *ArchivePin `yaml:"archive,omitempty"`
	// Debs maps a requested Debian package name to its pin.
	Debs map[string]DebPin `yaml:"debs"`
	// Go maps a binary name to its pinned module set.
	Go map[string]GoPin `yaml:"go,omitempty"`
	// Images maps a container service's name to its image's pin.
	Images map[string]ImagePin `yaml:"images,omitempty"`

	File string `yaml:"-"`
}

// DebPin is one exact Debian package file.
type DebPin struct {
	Package string `yaml:"package"` // the real package (a metapackage resolves to it)
	Version string `yaml:"version"`
	Arch    string `yaml:"arch"`
	SHA256  string `yaml:"sha256"`
	// Where the archive backend found it; empty in locks written through
	// apt, when the index supplies them at fetch time.
	Source   string `yaml:"source,omitempty"`   // the archive's name, as in archive.sources
	Suite    string `yaml:"suite,omitempty"`    // the suite whose index listed it
	Filename string `yaml:"filename,omitempty"` // its pool path
	// Snapshot is the time (20060102T150405Z) of that suite's index: a
	// snapshot service has the file at that time after the live archive
	// drops it.
	Snapshot string `yaml:"snapshot,omitempty"`
}

// ArchivePin is the Debian archives a lock's packages come from. Base
// URLs are the build host's configuration, never the lock's.
type ArchivePin struct {
	// Keys are the OpenPGP primary key fingerprints of which one must
	// sign each suite's InRelease; imgbuild carries the public keys.
	Keys    []string        `yaml:"keys"`
	Sources []ArchiveSource `yaml:"sources"`
}

// ArchiveSource is one archive: its name (the last element of its usual
// URL path: debian, debian-security) with the suites, components and
// architecture read from it.
type ArchiveSource struct {
	Name       string   `yaml:"name"`
	Suites     []string `yaml:"suites"`
	Components []string `yaml:"components"`
	Arch       string   `yaml:"arch"`
}

// GoPin is the module graph of one Go binary: the generated go.mod that
// requires it and the go.sum that go build verifies every module against.
type GoPin struct {
	Package string `yaml:"package"`
	Version string `yaml:"version"`
	GoMod   string `yaml:"go_mod"`
	GoSum   string `yaml:"go_sum"`
}

// ImagePin is one container image: the manifest's reference and the
// linux/amd64 image it resolved to (the same digest unless the
// reference names an index).
type ImagePin struct {
	Image  string `yaml:"image"`  // REF@sha256:..., as the manifest writes it
	Digest string `yaml:"digest"` // the linux/amd64 image manifest's digest
	Config string `yaml:"config"` // its config blob's digest
}

// LockPath is where the lock file of a manifest lives.
func LockPath(manifestPath string) string {
	ext := filepath.Ext(manifestPath)
	return strings.TrimSuffix(manifestPath, ext) + ".lock"
}

// LoadLock reads a lock file; a missing file gives (nil, nil).
func LoadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	l, err := parseLock(path, data)
	if err != nil {
		return nil, err
	}
	l.File = path
	return l, nil
}

// parseLock decodes a lock's bytes; errors name path and the line.
func parseLock(path string, data []byte) (*Lock, error) {
	l := &Lock{}
	if err := decodeStrict(path, data, l, positions{}); err != nil {
		return nil, err
	}
	return l, nil
}

// Marshal gives the lock file's bytes: map keys sorted, so equal locks
// are equal files.
func (l *Lock) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Written by imgbuild: the exact inputs of this image. Commit it.\n")
	buf.WriteString("# Re-pin with: imgbuild build --update-lock\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// Save writes the lock file atomically.
func (l *Lock) Save(path string) error {
	data, err := l.Marshal()
	if err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	return fsutil.WriteFile(path, data, 0o644)
}

// Equal reports whether two locks pin the same inputs.
func (l *Lock) Equal(o *Lock) bool {
	if l == nil || o == nil {
		return l == o
	}
	a, _ := l.Marshal()
	b, _ := o.Marshal()
	return bytes.Equal(a, b)
}
