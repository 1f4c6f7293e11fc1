package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/update/repo"
)

// Source is where an offer's files come from: a repository directory
// or a base URL (a static repository, or an Omaha codebase).
type Source struct {
	Dir    string // local repository root; or
	URL    string // base URL, trailing slash optional
	Client *http.Client
}

func (s Source) String() string {
	if s.Dir != "" {
		return s.Dir
	}
	return s.URL
}

// repo is the source as update/repo reads it (channel metadata).
func (s Source) repo() repo.Source {
	if s.Dir != "" {
		return repo.Dir(s.Dir)
	}
	return repo.URL{Base: s.URL, Client: s.client()}
}

// open returns rel's content from byte offset on, and whether the
// source honoured the offset (a server may ignore Range).
func (s Source) open(ctx context.Context, rel string, offset int64) (io.ReadCloser, bool, error) {
	if strings.HasPrefix(rel, "/") || strings.Contains("/"+rel+"/", "/../") {
		return nil, false, fmt.Errorf("bad path %q", rel)
	}
	if s.Dir != "" {
		f, err := os.Open(filepath.Join(s.Dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, false, err
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, false, err
		}
		return f, true, nil
	}
	base, err := url.Parse(strings.TrimSuffix(s.URL, "/") + "/")
	if err != nil {
		return nil, false, fmt.Errorf("base URL %q: %w", s.URL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath(rel).String(), nil)
	if err != nil {
		return nil, false, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, false, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		return resp.Body, true, nil
	case resp.StatusCode == http.StatusOK:
		return resp.Body, offset == 0, nil
	}
	resp.Body.Close()
	return nil, false, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
}

// download fetches f into the state directory, resuming a partial file
// left by an earlier attempt, and checks its size and sha256. The result
// is named by its hash, so a file fetched once is not fetched again.
func (a *Agent) download(ctx context.Context, src Source, f repo.File) (string, error) {
	dir := filepath.Join(a.StateDir, downloadDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	done := filepath.Join(dir, f.SHA256)
	if st, err := os.Stat(done); err == nil && st.Size() == f.Size {
		return done, nil
	}
	part := done + ".part"
	out, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	defer out.Close()
	have, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	if have > f.Size {
		have = 0
	}
	if have < f.Size {
		a.logf("fetching %s %s (%d bytes) from %s", f.Kind, f.Path, f.Size, src)
		if err := a.fetchInto(ctx, src, f, out, have); err != nil {
			return "", err
		}
	}
	if err := checkFile(out, f); err != nil {
		os.Remove(part) // bad bytes are not worth resuming
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	if err := os.Rename(part, done); err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	return done, nil
}

// fetchInto appends f's bytes from offset have to out, at most up to
// one byte more than announced so that an oversized file is noticed.
func (a *Agent) fetchInto(ctx context.Context, src Source, f repo.File, out *os.File, have int64) error {
	r, resumed, err := src.open(ctx, f.Path, have)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return refuse(contract.ErrDownload, "%s %s: not in %s", f.Kind, f.Path, src)
		}
		return refuse(contract.ErrDownload, "%s %s from %s: %v", f.Kind, f.Path, src, err)
	}
	defer r.Close()
	if !resumed {
		have = 0
	}
	if err := out.Truncate(have); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if _, err := out.Seek(have, io.SeekStart); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if have > 0 {
		a.logf("resuming %s at byte %d of %d", f.Kind, have, f.Size)
	}
	if _, err := io.Copy(out, io.LimitReader(r, f.Size-have+1)); err != nil {
		return refuse(contract.ErrDownload, "%s %s from %s: %v", f.Kind, f.Path, src, err)
	}
	return nil
}

// checkFile compares a downloaded file with what was announced.
func checkFile(file *os.File, f repo.File) error {
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if st.Size() != f.Size {
		return refuse(contract.ErrSize, "%s %s: %d bytes, announced %d", f.Kind, f.Path, st.Size(), f.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(file, 0, st.Size())); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return refuse(contract.ErrSHA256, "%s %s: sha256 %s, announced %s", f.Kind, f.Path, got, f.SHA256)
	}
	return nil
}
