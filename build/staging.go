package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// stagingPrefix names a build's staging directory in the output
// directory: every output is made there, then renamed into place.
const stagingPrefix = ".imgbuild-staging-"

// newStaging makes this build's staging directory in out and holds a
// lock on it until release. A staging directory whose lock nobody holds
// is left by a build that was killed: it goes first, so that dead
// builds' half-made images do not pile up.
func newStaging(out string) (dir string, release func(), err error) {
	removeDeadStaging(out)
	dir, err = os.MkdirTemp(out, stagingPrefix)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(dir)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return dir, func() {
		os.RemoveAll(dir)
		f.Close()
	}, nil
}

// removeDeadStaging removes the staging directories in out whose build
// is gone (their lock is free); live builds' stay.
func removeDeadStaging(out string) {
	des, err := os.ReadDir(out)
	if err != nil {
		return
	}
	for _, de := range des {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), stagingPrefix) {
			continue
		}
		p := filepath.Join(out, de.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}
