// Package archive reads a Debian archive over HTTP without apt, dpkg or
// gpg: it verifies each suite's InRelease against pinned OpenPGP keys,
// reads the Packages index by the hash InRelease gives, and fetches
// packages by pool path into a cache keyed by sha256.
package archive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Source is one archive as the lock pins it: a name (which the build
// host's configuration maps to a base URL), its suites, components and
// architecture.
type Source struct {
	Name       string
	Suites     []string
	Components []string
	Arch       string
}

// String names the source for messages: "debian (bookworm, bookworm-updates; main; amd64)".
func (s Source) String() string {
	return fmt.Sprintf("%s (%s; %s; %s)", s.Name, strings.Join(s.Suites, ", "), strings.Join(s.Components, ", "), s.Arch)
}

// Bookworm is Debian 12's main component for arch, from the main archive
// (with its point-release updates) and the security archive: what a lock
// without an archive section means.
func Bookworm(arch string) []Source {
	comp := []string{"main"}
	return []Source{
		{Name: "debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: comp, Arch: arch},
		{Name: "debian-security", Suites: []string{"bookworm-security"}, Components: comp, Arch: arch},
	}
}

// ErrNotFound is wrapped when no index of the configured archives has
// the package or version asked for.
var ErrNotFound = errors.New("not in the archive")

// ErrChecksum is wrapped when a file's bytes differ from the hash that
// pins them (InRelease for an index, the lock for a package).
var ErrChecksum = errors.New("sha256 mismatch")

// Config says where the archives are and what to trust.
type Config struct {
	Sources  []Source
	URLs     map[string]string // source name -> base URL (without /dists)
	Snapshot string            // snapshot service base URL; "" disables it
	Keys     openpgp.EntityList
	CacheDir string // indexes are kept under CacheDir/debindex, by sha256
	HTTP     *http.Client
}

// Client answers package queries from the archives' indexes, loading
// them on first use.
type Client struct {
	cfg  Config
	once sync.Once
	err  error
	pkgs map[string][]Entry // package name -> every entry in every index
}

// Entry is one package version as an index lists it.
type Entry struct {
	Package  string
	Version  string
	Arch     string
	SHA256   string
	Filename string // pool path
	Depends  string
	Source   string    // the archive's name
	Suite    string    // the suite whose index listed it
	Date     time.Time // that suite's InRelease date
}

// SnapshotStamp is the entry's index date as a snapshot service time.
func (e Entry) SnapshotStamp() string { return e.Date.UTC().Format(SnapshotTime) }

// New checks cfg and returns a client; nothing is fetched yet.
func New(cfg Config) (*Client, error) {
	for _, s := range cfg.Sources {
		if cfg.URLs[s.Name] == "" {
			return nil, fmt.Errorf("Debian archive %q has no base URL: set %s=%s=http://MIRROR/PATH (or --deb-archive), or add it to the host's apt sources", s.Name, EnvArchive, s.Name)
		}
	}
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("Debian archive: no trusted keys")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	return &Client{cfg: cfg}, nil
}

// Versions returns every entry of the package in the configured
// indexes, newest version first.
func (c *Client) Versions(ctx context.Context, name string) ([]Entry, error) {
	c.once.Do(func() { c.pkgs, c.err = c.loadAll(ctx) })
	if c.err != nil {
		return nil, c.err
	}
	return c.pkgs[name], nil
}

// Candidate is the newest version of name across the configured suites,
// the one apt would install at equal priority.
func (c *Client) Candidate(ctx context.Context, name string) (Entry, error) {
	es, err := c.Versions(ctx, name)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, fmt.Errorf("package %s: %w %s", name, ErrNotFound, c.describe())
	}
	return es[0], nil
}

// Find returns the entry of name at version (and, when sha256 is not
// empty, with that hash).
func (c *Client) Find(ctx context.Context, name, version, sha256 string) (Entry, error) {
	es, err := c.Versions(ctx, name)
	if err != nil {
		return Entry{}, err
	}
	var seen []string
	for _, e := range es {
		if e.Version != version {
			seen = append(seen, e.Version)
			continue
		}
		if sha256 == "" || e.SHA256 == sha256 {
			return e, nil
		}
		return Entry{}, fmt.Errorf("package %s=%s in %s %s: %w: the lock pins %s, the index lists %s", name, version, e.Source, e.Suite, ErrChecksum, sha256, e.SHA256)
	}
	if len(seen) == 0 {
		return Entry{}, fmt.Errorf("package %s: %w %s", name, ErrNotFound, c.describe())
	}
	return Entry{}, fmt.Errorf("package %s=%s: %w %s (it has %s)", name, version, ErrNotFound, c.describe(), strings.Join(seen, ", "))
}

func (c *Client) describe() string {
	var parts []string
	for _, s := range c.cfg.Sources {
		parts = append(parts, s.String()+" at "+c.cfg.URLs[s.Name])
	}
	return strings.Join(parts, ", ")
}
