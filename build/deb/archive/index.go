package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// maxRelease bounds an InRelease read into memory (Debian's are ~150 KB).
const maxRelease = 16 << 20

// loadAll reads every configured suite's index into one table.
func (c *Client) loadAll(ctx context.Context) (map[string][]Entry, error) {
	pkgs := map[string][]Entry{}
	for _, s := range c.cfg.Sources {
		for _, suite := range s.Suites {
			if err := c.loadSuite(ctx, s, suite, pkgs); err != nil {
				return nil, err
			}
		}
	}
	for name, es := range pkgs {
		// Newest first; on equal versions the earlier-listed suite wins, as
		// it would in apt's sources order.
		sort.SliceStable(es, func(i, j int) bool { return CompareVersions(es[i].Version, es[j].Version) > 0 })
		pkgs[name] = es
	}
	return pkgs, nil
}

func (c *Client) loadSuite(ctx context.Context, s Source, suite string, pkgs map[string][]Entry) error {
	base := c.cfg.URLs[s.Name]
	where := fmt.Sprintf("Debian archive %s suite %s (%s)", s.Name, suite, base)
	data, err := c.get(ctx, base+"/dists/"+suite+"/InRelease", maxRelease)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	rel, err := VerifyRelease(data, c.cfg.Keys)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	// A mirror replaying an old signed index could hold back security
	// fixes at the next --update-lock: apt refuses an expired one too.
	if !rel.ValidUntil.IsZero() && time.Now().After(rel.ValidUntil) {
		return fmt.Errorf("%s: InRelease expired at %s (Valid-Until): the mirror serves a stale index", where, rel.ValidUntil.Format(time.RFC1123))
	}
	for _, comp := range s.Components {
		text, err := c.packagesIndex(ctx, base, suite, comp, s.Arch, rel)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		err = EachStanza(text, func(st Stanza) error {
			e := Entry{Package: st["Package"], Version: st["Version"], Arch: st["Architecture"],
				SHA256: st["SHA256"], Filename: st["Filename"], Depends: st["Depends"],
				Source: s.Name, Suite: suite, Date: rel.Date}
			if e.Package != "" && e.Version != "" && e.SHA256 != "" && e.Filename != "" {
				pkgs[e.Package] = append(pkgs[e.Package], e)
			}
			return nil
		})
		text.Close()
		if err != nil {
			return fmt.Errorf("%s: %s Packages index: %w", where, comp, err)
		}
	}
	return nil
}

// packagesIndex returns the uncompressed Packages text of one
// component, fetched (or taken from the cache) by the hash InRelease
// lists for it. gzip is preferred over the smaller xz: Go's xz reader
// takes ~10 s for bookworm's 50 MB main index, gzip well under one.
func (c *Client) packagesIndex(ctx context.Context, base, suite, comp, arch string, rel *Release) (io.ReadCloser, error) {
	stem := comp + "/binary-" + arch + "/Packages"
	for _, ext := range []string{".gz", ".xz", ""} {
		f, ok := rel.Files[stem+ext]
		if !ok {
			continue
		}
		path, err := c.cachedIndex(ctx, base+"/dists/"+suite+"/"+stem+ext, stem+ext, f)
		if err != nil {
			return nil, err
		}
		return decompress(path, ext)
	}
	return nil, fmt.Errorf("InRelease lists no %s index", stem)
}

func (c *Client) cachedIndex(ctx context.Context, url, name string, f IndexFile) (string, error) {
	if !sha256Hex.MatchString(f.SHA256) {
		return "", fmt.Errorf("InRelease: %s: bad SHA256 %q", name, f.SHA256)
	}
	final := filepath.Join(c.cfg.CacheDir, "debindex", f.SHA256)
	if sum, _, err := fsutil.FileSHA256(final); err == nil && sum == f.SHA256 {
		return final, nil
	}
	if err := c.download(ctx, []string{url}, final, f.SHA256, f.Size, nil); err != nil {
		return "", fmt.Errorf("index %s: %w", name, err)
	}
	return final, nil
}

func decompress(path, ext string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	switch ext {
	case ".xz":
		if r, err = xz.NewReader(bufio.NewReader(f)); err != nil {
			f.Close()
			return nil, fmt.Errorf("index %s: %w", path, err)
		}
	case ".gz":
		if r, err = gzip.NewReader(bufio.NewReader(f)); err != nil {
			f.Close()
			return nil, fmt.Errorf("index %s: %w", path, err)
		}
	}
	return readCloser{r, f}, nil
}

// readCloser reads a decompressor and closes the file under it.
type readCloser struct {
	io.Reader
	io.Closer
}

// get reads a small file whole (InRelease, which its signature checks).
func (c *Client) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := newRequest(ctx, url)
	if err != nil {
		return nil, err
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return data, nil
}

func trimSlash(s string) string { return strings.TrimSuffix(s, "/") }
