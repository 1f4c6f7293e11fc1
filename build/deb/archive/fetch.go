package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// SnapshotTime is the layout of a snapshot service timestamp.
const SnapshotTime = "20060102T150405Z"

// Pin is what Fetch needs of a locked package; Source and Filename may
// be empty (a lock written before they were recorded): the index then
// supplies them.
type Pin struct {
	Package, Version, SHA256 string
	Source, Filename         string
	Snapshot                 string // SnapshotTime; "" when none is pinned
}

func (p Pin) String() string { return p.Package + "=" + p.Version }

// SnapshotURL is where a snapshot service keeps a pool file as the
// archive named source had it at stamp.
func SnapshotURL(base, source, stamp, filename string) string {
	return trimSlash(base) + "/archive/" + source + "/" + stamp + "/" + filename
}

// Fetch downloads the pinned package to final, from the live archive's
// pool or, when the live archive no longer has it, from the snapshot
// service at the pinned time. The bytes must have the pinned sha256;
// otherwise nothing is kept.
func (c *Client) Fetch(ctx context.Context, p Pin, final string, progress func(int64)) error {
	if p.Filename == "" || p.Source == "" {
		e, err := c.Find(ctx, p.Package, p.Version, p.SHA256)
		if err != nil {
			return err
		}
		p.Source, p.Filename = e.Source, e.Filename
	}
	base, ok := c.cfg.URLs[p.Source]
	if !ok {
		return fmt.Errorf("package %s: archive %q has no base URL: set %s=%s=URL", p, p.Source, EnvArchive, p.Source)
	}
	urls := []string{base + "/" + p.Filename}
	if p.Snapshot != "" && c.cfg.Snapshot != "" {
		urls = append(urls, SnapshotURL(c.cfg.Snapshot, p.Source, p.Snapshot, p.Filename))
	}
	if err := c.download(ctx, urls, final, p.SHA256, -1, progress); err != nil {
		if errors.Is(err, errHTTPNotFound) {
			hint := ""
			if p.Snapshot != "" && c.cfg.Snapshot == "" {
				hint = fmt.Sprintf("; the lock pins snapshot %s: set %s to a snapshot service to fetch it from there", p.Snapshot, EnvSnapshot)
			}
			return fmt.Errorf("package %s from archive %s: %w: %v%s", p, p.Source, ErrNotFound, err, hint)
		}
		return fmt.Errorf("package %s from archive %s: %w", p, p.Source, err)
	}
	return nil
}

var (
	errHTTPNotFound = errors.New("404 Not Found")
	errTooLarge     = errors.New("file too large")
)

// download fetches the first of urls that exists into final, checking
// sha and, when it is not negative, size: a server sending more is cut
// off rather than filling the cache. A partial download survives in
// final's .partial directory and is resumed with an HTTP Range request
// next time.
func (c *Client) download(ctx context.Context, urls []string, final, sha string, size int64, progress func(int64)) error {
	partial := filepath.Join(filepath.Dir(final), ".partial", filepath.Base(final))
	if err := os.MkdirAll(filepath.Dir(partial), 0o755); err != nil {
		return err
	}
	// Two builds sharing a cache must not append to one partial file: the
	// second waits, then finds the first one's finished file.
	unlock, err := lockFile(partial + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if got, _, err := fsutil.FileSHA256(final); err == nil && got == sha {
		return nil
	}
	for _, u := range urls {
		if err = c.resume(ctx, u, partial, size, progress); !errors.Is(err, errHTTPNotFound) {
			break
		}
		err = fmt.Errorf("GET %s: %w", u, err)
	}
	if errors.Is(err, errTooLarge) {
		os.Remove(partial)
	}
	if err != nil {
		return err
	}
	got, _, err := fsutil.FileSHA256(partial)
	if err != nil {
		return err
	}
	if got != sha {
		os.Remove(partial)
		return fmt.Errorf("%w: expected %s, got %s", ErrChecksum, sha, got)
	}
	return os.Rename(partial, final)
}

// lockFile takes an exclusive flock on path, created if missing.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// resume appends the rest of url to partial.
func (c *Client) resume(ctx context.Context, url, partial string, size int64, progress func(int64)) error {
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := newRequest(ctx, url)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		// The server ignored the range: start over.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have = 0
	case http.StatusRequestedRangeNotSatisfiable:
		return nil // already whole; the hash check decides
	case http.StatusNotFound:
		return errHTTPNotFound
	default:
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	w := io.Writer(f)
	if progress != nil {
		w = &counter{w: f, n: have, fn: progress}
	}
	body := io.Reader(resp.Body)
	if size >= 0 {
		body = io.LimitReader(resp.Body, size-have+1)
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return fmt.Errorf("GET %s: %w (the part fetched is kept and resumed next time)", url, err)
	}
	if size >= 0 && have+n > size {
		return fmt.Errorf("GET %s: %w: more than the %d bytes listed", url, errTooLarge, size)
	}
	return f.Sync()
}

// counter reports the bytes written so far, at most every 200ms.
type counter struct {
	w    io.Writer
	n    int64
	fn   func(int64)
	last time.Time
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) > 200*time.Millisecond {
		c.last = now
		c.fn(c.n)
	}
	return n, err
}

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "imgbuild")
	return req, nil
}
