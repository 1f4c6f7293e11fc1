package ignition

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/vincent-petithory/dataurl"
)

// maxFetch bounds one http(s) resource: ROOT is small and a runaway
// server must not fill it.
const maxFetch = 256 << 20

// errNoNetwork is returned for an http(s) source when the machine has no
// network to fetch it with.
var errNoNetwork = errors.New("the machine has no network to fetch it")

// fetchTo writes a resource's contents to w and checks its
// verification.hash, when it has one, over exactly those bytes.
func fetchTo(ctx context.Context, client *http.Client, r types.Resource, w io.Writer) error {
	if r.Source == nil || *r.Source == "" {
		return nil // an empty file, as in Ignition
	}
	src, err := open(ctx, client, *r.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	h, want, err := hasher(r.Verification)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(src, maxFetch+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", redact(*r.Source), err)
	}
	if n > maxFetch {
		return fmt.Errorf("%s: larger than %d MiB", redact(*r.Source), maxFetch>>20)
	}
	if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
		return fmt.Errorf("verification.hash mismatch: got %s, the config says %s", got, want)
	}
	return nil
}

func open(ctx context.Context, client *http.Client, src string) (io.ReadCloser, error) {
	if strings.HasPrefix(src, "data:") {
		d, err := dataurl.DecodeString(src)
		if err != nil {
			return nil, fmt.Errorf("data URL: %w", err)
		}
		return io.NopCloser(bytes.NewReader(d.Data)), nil
	}
	if client == nil {
		return nil, fmt.Errorf("%s: %w", src, errNoNetwork)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // names the URL already
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", src, resp.Status)
	}
	return resp.Body, nil
}

// hasher returns the hash named by verification.hash (sha256 or sha512,
// as Ignition allows) and the expected hex sum; with no hash, a sha256
// nobody checks.
func hasher(v types.Verification) (hash.Hash, string, error) {
	fn, sum, err := v.HashParts()
	if err != nil {
		return nil, "", fmt.Errorf("verification.hash: %w", err)
	}
	switch fn {
	case "":
		return sha256.New(), "", nil
	case "sha256":
		return sha256.New(), strings.ToLower(sum), nil
	case "sha512":
		return sha512.New(), strings.ToLower(sum), nil
	}
	return nil, "", fmt.Errorf("verification.hash: unknown function %q", fn)
}

// redact keeps a data URL's payload out of messages.
func redact(src string) string {
	if strings.HasPrefix(src, "data:") && len(src) > 40 {
		return src[:40] + "..."
	}
	return src
}
