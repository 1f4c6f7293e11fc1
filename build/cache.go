package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// that is renamed into place.
func cached(cacheDir, kind, k, name string, make func(path string) error) (path string, hit bool, err error) {
	dir := filepath.Join(cacheDir, kind, k)
	path = filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+k[:12]+"-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	if err := make(filepath.Join(tmp, name)); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(path); statErr == nil {
			return path, true, nil // another build made it meanwhile
		}
		return "", false, err
	}
	return path, false, nil
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return sumReader(f)
}

// sumReader is the hex sha256 and length of everything r yields.
func sumReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
