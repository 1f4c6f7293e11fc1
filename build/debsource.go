package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/imgbuild/imgbuild/build/deb"
	"github.com/imgbuild/imgbuild/build/deb/archive"
	"github.com/imgbuild/imgbuild/manifest"
)

// EnvDebBackend selects how Debian packages are resolved and fetched:
// "archive" (the default: imgbuild reads the archive itself) or "apt"
// (the host's apt-cache and apt-get download).
const EnvDebBackend = "IMGBUILD_DEB_BACKEND"

// aptRoot is where the host's apt sources are read from; tests point it
// elsewhere.
var aptRoot = "/etc/apt"

// DefaultArchive is what a lock without an archive section means for an
// image of arch: archive.Bookworm, signed by a key of the bookworm
// keyring imgbuild carries.
func DefaultArchive(arch string) *manifest.ArchivePin {
	pin := &manifest.ArchivePin{Keys: archive.DebianFingerprints()}
	for _, s := range archive.Bookworm(arch) {
		pin.Sources = append(pin.Sources, manifest.ArchiveSource{Name: s.Name, Suites: s.Suites, Components: s.Components, Arch: s.Arch})
	}
	return pin
}

// debSource opens the Debian backend on first use, so that a build whose
// packages are all pinned and cached needs no archive configured.
type debSource struct {
	cacheDir string
	urls     string // the --deb-archive value; "" reads the environment, the user config, apt
	pin      *manifest.ArchivePin

	once     sync.Once
	err      error
	resolver *deb.Resolver
	client   *archive.Client // nil: the apt backend
}

func newDebSource(cacheDir, urls, arch string, pin *manifest.ArchivePin) *debSource {
	if pin == nil {
		pin = DefaultArchive(arch)
	}
	return &debSource{cacheDir: cacheDir, urls: urls, pin: pin}
}

func (s *debSource) open() error {
	s.once.Do(func() {
		switch b := os.Getenv(EnvDebBackend); b {
		case "apt":
			s.resolver = deb.AptResolver()
		case "", "archive":
			s.client, s.err = s.openArchive()
			if s.err == nil {
				s.resolver = deb.ArchiveResolver(s.client)
			}
		default:
			s.err = fmt.Errorf("%s=%q: want archive or apt", EnvDebBackend, b)
		}
	})
	return s.err
}

// Resolver is the backend's package resolver.
func (s *debSource) Resolver() (*deb.Resolver, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.resolver, nil
}

// downloadOptions adds the archive backend to deb.Download's options.
func (s *debSource) downloadOptions() ([]deb.Option, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	if s.client == nil {
		return nil, nil
	}
	return []deb.Option{deb.WithArchive(s.client)}, nil
}

func (s *debSource) openArchive() (*archive.Client, error) {
	var sources []archive.Source
	for _, a := range s.pin.Sources {
		sources = append(sources, archive.Source{Name: a.Name, Suites: a.Suites, Components: a.Components, Arch: a.Arch})
	}
	urls, err := s.archiveURLs(sources)
	if err != nil {
		return nil, err
	}
	ring, err := archive.DebianKeyring()
	if err != nil {
		return nil, err
	}
	keys, err := archive.TrustedKeys(ring, s.pin.Keys)
	if err != nil {
		return nil, fmt.Errorf("lock archive.keys: %w", err)
	}
	return archive.New(archive.Config{Sources: sources, URLs: urls, Snapshot: os.Getenv(archive.EnvSnapshot),
		Keys: keys, CacheDir: s.cacheDir})
}

// archiveURLs reads the base URLs from the first setting present: the
// --deb-archive flag, $IMGBUILD_DEBIAN_ARCHIVE, the user config file, the
// host's apt sources.
func (s *debSource) archiveURLs(sources []archive.Source) (map[string]string, error) {
	if s.urls != "" {
		return archive.ParseURLs(s.urls)
	}
	if v := os.Getenv(archive.EnvArchive); v != "" {
		return archive.ParseURLs(v)
	}
	if path := userArchiveConfig(); path != "" {
		data, err := os.ReadFile(path)
		if err == nil {
			urls, err := archive.ParseURLs(string(data))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return urls, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("Debian archive config: %w", err)
		}
	}
	apt, err := archive.ReadAptSources(aptRoot)
	if err != nil {
		return nil, err
	}
	return archive.URLsFromApt(sources, apt), nil
}

// userArchiveConfig is $XDG_CONFIG_HOME/imgbuild/debian-archive: the
// same NAME=URL lines as $IMGBUILD_DEBIAN_ARCHIVE.
func userArchiveConfig() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "imgbuild", "debian-archive")
}

// complete adds the archive fields to a pin written without them
// (through apt, or before imgbuild recorded them), keeping its package,
// version and sha256. It is best effort: ok is false when the apt
// backend is in use or the archive cannot be read, and the pin then
// builds as it is, from the cache or by an index lookup at fetch time.
func (s *debSource) complete(ctx context.Context, pin manifest.DebPin) (manifest.DebPin, bool) {
	if s.open() != nil || s.client == nil {
		return pin, false
	}
	e, err := s.client.Find(ctx, pin.Package, pin.Version, pin.SHA256)
	if err != nil {
		return pin, false
	}
	pin.Source, pin.Suite, pin.Filename, pin.Snapshot = e.Source, e.Suite, e.Filename, e.SnapshotStamp()
	return pin, true
}
