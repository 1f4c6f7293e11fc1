package repo

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/sign"
)

// AddFile copies a host file into the repository's objects and returns
// its payload entry. An object that already exists is checked, not
// rewritten: objects never change once written. A new object is written
// through fsutil.Write (durable once AddFile returns), and a host file
// that changes between its hash and its copy is refused.
func AddFile(root, kind, hostPath string) (File, error) {
	sum, n, err := fsutil.FileSHA256(hostPath)
	if err != nil {
		return File{}, fmt.Errorf("repo: %s: %w", kind, err)
	}
	f := File{Kind: kind, Path: ObjectPath(sum), Size: n, SHA256: sum}
	dst := filepath.Join(root, filepath.FromSlash(f.Path))
	if st, err := os.Stat(dst); err == nil && st.Size() == n {
		return f, nil // same name, same content: written before
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return File{}, fmt.Errorf("repo: %w", err)
	}
	err = fsutil.Write(dst, 0o644, func(w *os.File) error {
		in, err := os.Open(hostPath)
		if err != nil {
			return err
		}
		defer in.Close()
		got, m, err := fsutil.ReaderSHA256(io.TeeReader(in, w))
		if err == nil && (got != sum || m != n) {
			err = fmt.Errorf("%s changed while it was copied", hostPath)
		}
		return err
	})
	if err != nil {
		return File{}, fmt.Errorf("repo: copy %s: %w", kind, err)
	}
	return f, nil
}

// AddPayload stores a release's files (kind -> host path) and returns
// its payload. The record file must be among them; name, version and
// arch come from it.
func AddPayload(root string, files map[string]string) (Payload, error) {
	recPath, ok := files[KindRecord]
	if !ok {
		return Payload{}, fmt.Errorf("repo: payload without a release record")
	}
	raw, err := os.ReadFile(recPath)
	if err != nil {
		return Payload{}, fmt.Errorf("repo: release record: %w", err)
	}
	rec, err := sign.ParseRecord(raw)
	if err != nil {
		return Payload{}, fmt.Errorf("repo: %s: %w", recPath, err)
	}
	p := Payload{Name: rec.Name, Version: rec.Version, Arch: rec.Arch}
	kinds := make([]string, 0, len(files))
	for k := range files {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		f, err := AddFile(root, k, files[k])
		if err != nil {
			return Payload{}, err
		}
		p.Files = append(p.Files, f)
	}
	return p, nil
}

// Publish points a channel at a payload: it writes the channel metadata
// and its signature under temporary names and renames them into place,
// the signature first, so a reader sees an old pair, a new signature
// with old metadata (refused, retried), or the new pair.
func Publish(root, channel string, p Payload, key ed25519.PrivateKey, now time.Time) (*Channel, error) {
	if channel == "" || strings.ContainsAny(channel, "/\\. ") {
		return nil, fmt.Errorf("repo: channel %q: use letters, digits and dashes", channel)
	}
	c := &Channel{Format: ChannelFormat, Channel: channel, Since: now.UTC().Truncate(time.Second), Payload: p}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	data = append(data, '\n')
	sig, err := sign.SignBytes(sign.ChannelContext, data, key)
	if err != nil {
		return nil, fmt.Errorf("repo: sign channel %s: %w", channel, err)
	}
	if err := writeAtomic(filepath.Join(root, filepath.FromSlash(SigPath(channel))), sig); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(root, filepath.FromSlash(ChannelPath(channel))), data); err != nil {
		return nil, err
	}
	return c, nil
}

// Promote points channel to at the release channel from offers, which
// must be version: the payload's bytes are not touched, only channel
// metadata is written.
func Promote(root, version, from, to string, keys []ed25519.PublicKey, key ed25519.PrivateKey, now time.Time) (*Channel, error) {
	src, err := ReadChannel(Dir(root), from, keys)
	if err != nil {
		return nil, err
	}
	if src.Version != version {
		return nil, fmt.Errorf("repo: channel %s offers %s, not %s: promote what it offers", from, src.Version, version)
	}
	for _, f := range src.Files {
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil || st.Size() != f.Size {
			return nil, fmt.Errorf("repo: %s %s: object %s missing or of the wrong size", from, f.Kind, f.Path)
		}
	}
	return Publish(root, to, src.Payload, key, now)
}

// List reads every channel's metadata (not verified: for display).
func List(root string) ([]*Channel, error) {
	des, err := os.ReadDir(filepath.Join(root, "channels"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	var out []*Channel
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "channels", de.Name()))
		if err != nil {
			return nil, fmt.Errorf("repo: %w", err)
		}
		c, err := ParseChannel(data)
		if err != nil {
			return nil, fmt.Errorf("repo: %s: %w", de.Name(), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("repo: write %s: %w", path, err)
	}
	return nil
}
