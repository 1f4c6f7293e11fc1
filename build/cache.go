package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// DefaultCacheDir is $IMGBUILD_CACHE, else $XDG_CACHE_HOME/imgbuild,
// else ~/.cache/imgbuild.
func DefaultCacheDir() string {
	if d := os.Getenv("IMGBUILD_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "imgbuild")
	}
	return filepath.Join(os.TempDir(), "imgbuild-cache")
}

// key hashes its parts into a cache key; parts are length-prefixed so
// that ("ab","c") and ("a","bc") differ.
func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cached returns the path of cache entry kind/k/name, producing it with
// make (which writes to the path it is given) when absent. An entry
// appears whole or not at all: make writes into a temporary directory
// that is renamed into place, with the sha256 of every file in it. An
// entry whose files no longer match (a bit flip, a truncation, writes a
// power cut lost, an entry from before the sums) is made again.
func (b *builder) cached(kind, k, name string, make func(path string) error) (path string, hit bool, err error) {
	dir := filepath.Join(b.opts.CacheDir, kind, k)
	path = filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		err := fsutil.CheckSums(dir)
		if err == nil {
			return path, true, nil
		}
		b.report.Send(output.Event{Step: "info", Status: "info", Detail: fmt.Sprintf("cache entry %s/%s failed its check (%v): made again", kind, k[:min(12, len(k))], err)})
		if err := os.RemoveAll(dir); err != nil {
			return "", false, fmt.Errorf("cache: remove damaged entry: %w", err)
		}
	}
	raced, err := fsutil.MakeDir(dir, func(tmp string) error {
		if err := make(filepath.Join(tmp, name)); err != nil {
			return err
		}
		return fsutil.WriteSums(tmp)
	})
	if err != nil {
		return "", false, err
	}
	return path, raced, nil // raced: another build made it meanwhile
}

// Caches of our own outputs (stage-1 and sysinit, the initramfs, USR with
// its verity tree, the disk image's digest) are keyed by the hash of
// every input and of the imgbuild executable itself: a new imgbuild may
// write different bytes for the same inputs.

var self struct {
	once sync.Once
	sum  string
}

// toolHash is the sha256 of the running executable; when it cannot be
// read the keys get a unique value, so nothing is reused.
func toolHash() string {
	self.once.Do(func() {
		self.sum = fmt.Sprintf("unknown-%d", time.Now().UnixNano())
		exe, err := os.Executable()
		if err != nil {
			return
		}
		if sum, _, err := fsutil.FileSHA256(exe); err == nil {
			self.sum = sum
		}
	})
	return self.sum
}

func cacheNote(hit bool, what string) string {
	if hit {
		return "cached (" + what + ")"
	}
	return "built (" + what + ")"
}

// hashReader is the sha256 of everything r yields.
func hashReader(open func() (io.ReadCloser, error)) (string, error) {
	r, err := open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	sum, _, err := fsutil.ReaderSHA256(r)
	return sum, err
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// cachedCopy copies a cache entry to dst: outputs are never links into
// the cache, so editing or booting them cannot corrupt it.
func cachedCopy(src, dst string) error {
	return copyFile(src, dst)
}
