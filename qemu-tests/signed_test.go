package qemutests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/sign"
)

// signedBuild is the minimal manifest with security.allow_unsigned
// turned off, signed with a fresh release key and built once per test
// binary under a name. buildImage builds the shipped manifests unsigned.
type signedBuild struct {
	once sync.Once
	res  *output.Result
	dir  string // holds key/ (the release key) and what setup made
	key  string // private release key file
	err  error
}

var (
	signedMu     sync.Mutex
	signedBuilds = map[string]*signedBuild{}
)

// buildSignedVariant builds it; setup may add keys in dir and adjust
// the build options.
func buildSignedVariant(t *testing.T, name string, setup func(dir string, o *build.Options) error) *signedBuild {
	t.Helper()
	signedMu.Lock()
	s, ok := signedBuilds[name]
	if !ok {
		s = &signedBuild{}
		signedBuilds[name] = s
	}
	signedMu.Unlock()
	s.once.Do(func() { s.err = s.make(name, setup) })
	if s.err != nil {
		t.Fatalf("build %s minimal: %v", name, s.err)
	}
	return s
}

func (s *signedBuild) make(name string, setup func(string, *build.Options) error) error {
	dir, err := os.MkdirTemp("", "imgbuild-qemutest-"+name+"-")
	if err != nil {
		return err
	}
	s.dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "key"), 0o700); err != nil {
		return err
	}
	if _, _, err := sign.GenerateKey(filepath.Join(dir, "key")); err != nil {
		return err
	}
	s.key = filepath.Join(dir, "key", sign.PrivateKeyFile)
	src, err := minimalWith("allow_unsigned: true", "allow_unsigned: false")
	if err != nil {
		return err
	}
	mf := filepath.Join(dir, "minimal.yaml")
	if err := os.WriteFile(mf, src, 0o644); err != nil {
		return err
	}
	opts := build.Options{Manifest: mf, OutDir: filepath.Join(dir, "out"), SignKey: s.key}
	if setup != nil {
		if err := setup(dir, &opts); err != nil {
			return err
		}
	}
	start := time.Now()
	s.res, err = build.Run(context.Background(), opts)
	fmt.Fprintf(os.Stderr, "built %s minimal in %.1fs\n", name, time.Since(start).Seconds())
	return err
}
