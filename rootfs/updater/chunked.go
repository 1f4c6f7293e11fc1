package updater

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// errNoIndex: the repository has no chunk index of a file (an older
// release or server), or it could not be read; the file is fetched whole.
var errNoIndex = errors.New("no chunk index")

// seeder builds, on first use, the seed of the booted slot: its USR
// partition and its ESP files, which an update's chunks are read from
// before any is downloaded. It holds the files open until closed.
type seeder struct {
	a       *Agent
	running *sign.Record
	seed    *chunks.Seed
	err     error
	open    []*os.File
}

func (s *seeder) get() (*chunks.Seed, error) {
	if s.seed != nil || s.err != nil {
		return s.seed, s.err
	}
	s.seed = chunks.NewSeed()
	if s.err = s.addUSR(); s.err != nil {
		return nil, s.err
	}
	for _, rel := range []string{contract.KernelPath(s.a.Slot), contract.InitrdPath(s.a.Slot), contract.UKIPath(s.a.Slot)} {
		if s.err = s.addFile(filepath.Join(s.a.ESP, filepath.FromSlash(rel))); s.err != nil {
			return nil, s.err
		}
	}
	return s.seed, nil
}

// addUSR seeds with the booted USR's content as its record sizes it
// (dm-verity keeps it as written, so its chunks are the release's).
func (s *seeder) addUSR() error {
	e, _, err := s.a.partition(s.a.Slot)
	if err != nil {
		return err
	}
	off, size := s.a.partitionBytes(e)
	if s.running.USRSize <= 0 || s.running.USRSize > size {
		return fmt.Errorf("agent: seed: the running record's usr_size %d does not fit USR-%s", s.running.USRSize, strings.ToUpper(s.a.Slot))
	}
	f, err := os.Open(s.a.Disk)
	if err != nil {
		return fmt.Errorf("agent: seed: %w", err)
	}
	s.open = append(s.open, f)
	return s.seed.Add("USR-"+strings.ToUpper(s.a.Slot), io.NewSectionReader(f, off, s.running.USRSize), s.running.USRSize)
}

func (s *seeder) addFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a UKI machine has no kernel file, and the other way round
	}
	if err != nil {
		return fmt.Errorf("agent: seed: %w", err)
	}
	s.open = append(s.open, f)
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("agent: seed: %w", err)
	}
	return s.seed.Add(path, f, st.Size())
}

func (s *seeder) close() {
	for _, f := range s.open {
		f.Close()
	}
}

// fetch downloads f into the state directory: by its chunks when the
// source has a signed index of it, reading those the booted slot holds
// from there, else (no index, a bad index or chunk, any failure) whole,
// as download does.
func (a *Agent) fetch(ctx context.Context, src Source, f repo.File, seed *seeder) (string, error) {
	path, err := a.assemble(ctx, src, f, seed)
	if err == nil {
		return path, nil
	}
	a.logf("%s by chunks: %v; fetching the whole file", f.Kind, err)
	return a.download(ctx, src, f)
}

// assemble writes f from its chunks under its final download name, once
// its size and sha256 are right; the whole file's checks are download's.
func (a *Agent) assemble(ctx context.Context, src Source, f repo.File, seed *seeder) (string, error) {
	dir := filepath.Join(a.StateDir, downloadDir)
	done := filepath.Join(dir, f.SHA256)
	if st, err := os.Stat(done); err == nil && st.Size() == f.Size {
		return done, nil
	}
	if st, err := os.Stat(done + ".part"); err == nil && st.Size() > 0 {
		// An earlier whole download to resume costs less than chunks.
		return "", errors.New("a partial whole download is there to resume")
	}
	x, err := readIndex(ctx, src, f, a.Keys)
	if err != nil {
		return "", err
	}
	sd, err := seed.get()
	if err != nil {
		a.logf("no seed from the booted slot (%v): fetching every chunk", err)
		sd = nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	tmp := done + ".chunks"
	out, err := os.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	defer out.Close()
	fetch := func(ctx context.Context, rel string) (io.ReadCloser, error) {
		r, _, err := src.open(ctx, rel, 0)
		return r, err
	}
	st, err := chunks.Assemble(ctx, x, sd, fetch, out)
	if err == nil {
		err = checkFile(out, f)
	}
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, done)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	a.logf("assembled %s from %d chunks: %d (%d bytes) from the booted slot, %d (%d bytes) downloaded",
		f.Kind, st.Chunks, st.Seeded, st.SeededBytes, st.Fetched, st.FetchedBytes)
	return done, nil
}

// readIndex fetches and verifies f's chunk index; errNoIndex when the
// source has none.
func readIndex(ctx context.Context, src Source, f repo.File, keys []ed25519.PublicKey) (*chunks.Index, error) {
	data, err := readLimited(ctx, src, chunks.IndexPath(f.SHA256))
	if err != nil {
		return nil, err
	}
	sig, err := readLimited(ctx, src, chunks.IndexPath(f.SHA256)+".sig")
	if err != nil {
		return nil, err
	}
	return chunks.Verify(data, sig, keys, f.SHA256, f.Size)
}

func readLimited(ctx context.Context, src Source, rel string) ([]byte, error) {
	r, _, err := src.open(ctx, rel, 0)
	if err != nil {
		// A server without chunks answers 404; whatever else went wrong,
		// the whole file is still there to fetch.
		return nil, fmt.Errorf("%w: %v", errNoIndex, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, chunks.MaxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	return data, nil
}
