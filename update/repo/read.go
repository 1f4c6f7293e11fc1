package repo

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/sign"
)

// Source is where a repository is read from: a directory or a base URL.
type Source interface {
	// Open opens a file by its path relative to the repository root.
	Open(ctx context.Context, rel string) (io.ReadCloser, error)
	String() string
}

// Dir is a repository on the local file system.
type Dir string

// Open implements Source.
func (d Dir) Open(_ context.Context, rel string) (io.ReadCloser, error) {
	if !validRel(rel) {
		return nil, fmt.Errorf("repo: bad path %q", rel)
	}
	return os.Open(filepath.Join(string(d), filepath.FromSlash(rel)))
}

func (d Dir) String() string { return string(d) }

// URL is a repository served over HTTP(S).
type URL struct {
	Base   string // e.g. http://10.0.2.100/repo/ (a trailing slash is added)
	Client *http.Client
}

// Open implements Source.
func (u URL) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	if !validRel(rel) {
		return nil, fmt.Errorf("repo: bad path %q", rel)
	}
	base, err := url.Parse(strings.TrimSuffix(u.Base, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("repo: base URL %q: %w", u.Base, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath(rel).String(), nil)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	c := u.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("repo: GET %s: %s", req.URL, resp.Status)
	}
	return resp.Body, nil
}

func (u URL) String() string { return u.Base }

// validRel refuses paths that leave the repository.
func validRel(rel string) bool {
	return rel != "" && !strings.HasPrefix(rel, "/") && !strings.Contains(rel, "\\") &&
		!strings.Contains("/"+rel+"/", "/../") && !strings.Contains("/"+rel+"/", "/./")
}

// maxMetadata bounds what is read of a channel file or its signature.
const maxMetadata = 1 << 20

func readSmall(ctx context.Context, src Source, rel string) ([]byte, error) {
	r, err := src.Open(ctx, rel)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("repo: read %s: %w", rel, err)
	}
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("repo: %s is larger than %d bytes", rel, maxMetadata)
	}
	return data, nil
}

// ReadChannel fetches a channel's metadata and signature, checks the
// signature over the raw bytes against keys, and only then parses it.
func ReadChannel(src Source, channel string, keys []ed25519.PublicKey) (*Channel, error) {
	return ReadChannelContext(context.Background(), src, channel, keys)
}

// ReadChannelContext is ReadChannel with a context.
func ReadChannelContext(ctx context.Context, src Source, channel string, keys []ed25519.PublicKey) (*Channel, error) {
	data, err := readSmall(ctx, src, ChannelPath(channel))
	if err != nil {
		return nil, fmt.Errorf("repo: channel %s of %s: %w", channel, src, err)
	}
	sig, err := readSmall(ctx, src, SigPath(channel))
	if err != nil {
		return nil, fmt.Errorf("repo: channel %s of %s: signature: %w", channel, src, err)
	}
	if err := sign.VerifyBytes(sign.ChannelContext, data, sig, keys); err != nil {
		return nil, fmt.Errorf("repo: channel %s of %s: %w", channel, src, err)
	}
	c, err := ParseChannel(data)
	if err != nil {
		return nil, err
	}
	if c.Channel != channel {
		return nil, fmt.Errorf("repo: %s holds the metadata of channel %q", ChannelPath(channel), c.Channel)
	}
	return c, nil
}
