// Package release holds the steps of `imgbuild release`: making a
// release, one version of an image as machines take it (its signed
// record and the payload the record vouches for), out of a finished
// build, for an update repository's channel. ReadBuild finds the build's
// summary, Files picks the payload's files out of it and refuses an
// unsigned build, Check verifies the record's signature and that it
// vouches for the payload (repo.Vouched, the same check the update agent
// makes), and Current and Guard refuse to point a channel at a release
// its machines would refuse anyway (another image, not newer). Copying
// the files and publishing the channel are package repo's.
package release

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// payloadKinds maps build artifact kinds to payload file kinds.
var payloadKinds = map[string]string{
	"release": repo.KindRecord, "signature": repo.KindSignature, "usr": repo.KindUSR,
	"kernel": repo.KindKernel, "initramfs": repo.KindInitramfs,
	"uki-a": repo.KindUKI + "a", "uki-b": repo.KindUKI + "b",
}

// ReadBuild reads a build's summary: dir/NAME.json when given the
// output directory (it must hold exactly one), or the summary file
// itself. Artifact paths come back absolute.
func ReadBuild(path string) (*output.Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("release: build outputs: %w", err)
	}
	summary := path
	if st.IsDir() {
		if summary, err = findSummary(path); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(summary)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	var res output.Result
	if err := json.Unmarshal(data, &res); err != nil || res.Name == "" || len(res.Artifacts) == 0 {
		return nil, fmt.Errorf("release: %s is not a build summary (NAME.json written by imgbuild build)", summary)
	}
	dir := filepath.Dir(summary)
	for i, a := range res.Artifacts {
		res.Artifacts[i].Path = filepath.Join(dir, filepath.Base(a.Path))
	}
	return &res, nil
}

// findSummary is the one NAME.json in dir whose artifacts are beside it.
func findSummary(dir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	var found []string
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".json")
		if strings.Contains(name, ".") {
			continue // NAME.release.json and the like
		}
		if _, err := os.Stat(filepath.Join(dir, name+".release.json")); err == nil {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("release: %s holds no build summary (NAME.json beside NAME.release.json)", dir)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("release: %s holds several builds (%s): name the summary file", dir, strings.Join(found, ", "))
}

// Files picks a payload's files out of a build's artifacts, refusing an
// unsigned build.
func Files(res *output.Result) (map[string]string, error) {
	files := map[string]string{}
	for _, a := range res.Artifacts {
		if kind, ok := payloadKinds[a.Kind]; ok {
			files[kind] = a.Path
		}
	}
	if _, ok := files[repo.KindSignature]; !ok {
		return nil, fmt.Errorf("release: the build of %s %s is unsigned: machines refuse unsigned releases; build with --sign-key (imgbuild keygen makes one)", res.Name, res.Version)
	}
	for _, kind := range []string{repo.KindRecord, repo.KindUSR, repo.KindKernel, repo.KindInitramfs} {
		if _, ok := files[kind]; !ok {
			return nil, fmt.Errorf("release: the build of %s %s has no %s artifact", res.Name, res.Version, kind)
		}
	}
	return files, nil
}

// Check verifies the record's signature against keys and that the
// payload holds exactly the files the record vouches for; it returns
// the record.
func Check(p repo.Payload, root string, keys []ed25519.PublicKey) (*sign.Record, error) {
	rf, _ := p.File(repo.KindRecord)
	sf, ok := p.File(repo.KindSignature)
	if !ok {
		return nil, fmt.Errorf("release: payload %s has no signature", p.Version)
	}
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rf.Path)))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	sig, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(sf.Path)))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	rec, err := sign.Verify(raw, sig, keys)
	if err != nil {
		return nil, fmt.Errorf("release: record of %s %s: %w", p.Name, p.Version, err)
	}
	if _, err := repo.Vouched(rec, p.Files, repo.RequireAll); err != nil {
		return nil, fmt.Errorf("release: %s %s: %w", p.Name, p.Version, err)
	}
	return rec, nil
}

// Current is what a channel offers now (unverified: the guard below
// only stops mistakes), or nil when the channel does not exist.
func Current(root, channel string) (*repo.Channel, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(repo.ChannelPath(channel))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release: channel %s: %w", channel, err)
	}
	return repo.ParseChannel(data)
}

// ErrRefused is returned by Guard; --force publishes anyway.
var ErrRefused = errors.New("refused")

// Guard refuses to point a channel at a release machines on it would
// not take: another image, or a version not newer than the current one
// (machines never downgrade).
func Guard(cur *repo.Channel, name, ver string) error {
	if cur == nil {
		return nil
	}
	if cur.Name != name {
		return fmt.Errorf("release: %w: channel %s offers image %q, not %q (--force publishes it anyway)", ErrRefused, cur.Channel, cur.Name, name)
	}
	if version.Compare(ver, cur.Version) <= 0 {
		return fmt.Errorf("release: %w: channel %s offers %s %s (since %s) and %s is not newer; machines never downgrade (--force publishes it anyway)",
			ErrRefused, cur.Channel, cur.Name, cur.Version, cur.Since.Format("2006-01-02 15:04 UTC"), ver)
	}
	return nil
}

// Kinds lists a payload's kinds in a stable order, for messages.
func Kinds(files map[string]string) []string {
	out := make([]string, 0, len(files))
	for k := range files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// StoreChunks stores the chunks and signed index of each payload file a
// machine writes (USR, kernel, initramfs, UKIs), from the repository's
// objects, so that machines download only the chunks they lack
// (package chunks). It returns the bytes of chunks that were new.
func StoreChunks(root string, p repo.Payload, key ed25519.PrivateKey) (int64, error) {
	var added int64
	for _, f := range p.Files {
		if f.Kind == repo.KindRecord || f.Kind == repo.KindSignature {
			continue
		}
		_, n, err := chunks.Store(root, filepath.Join(root, filepath.FromSlash(f.Path)), key)
		if err != nil {
			return added, fmt.Errorf("release: %s %s: %w", p.Version, f.Kind, err)
		}
		added += n
	}
	return added, nil
}
