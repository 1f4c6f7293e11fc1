// Package repro compares two builds of the same manifest byte by byte and
// says where they first differ: which artifact, which partition of the
// disk image, which file on the ESP, at which byte offset. It is what
// imgbuild build --check-reproducible and the reproducibility test use.
package repro

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Difference is the first place two artifacts differ.
type Difference struct {
	Artifact  string // file name, e.g. minimal.img
	Offset    int64  // byte offset in the artifact (-1: sizes differ only)
	SizeA     int64
	SizeB     int64
	Partition string // for disk images: e.g. "3 USR-A"; "" outside partitions
	PartStart int64  // the partition's offset in the image
	File      string // for the ESP: the first differing file, when found
	Detail    string // anything more, e.g. "GPT header"
}

func (d Difference) String() string {
	s := fmt.Sprintf("%s differs at byte %d", d.Artifact, d.Offset)
	if d.Offset < 0 {
		s = fmt.Sprintf("%s differs in size: %d vs %d bytes", d.Artifact, d.SizeA, d.SizeB)
	}
	if d.Partition != "" {
		s += fmt.Sprintf(" (partition %s, offset %d in it)", d.Partition, d.Offset-d.PartStart)
	}
	if d.File != "" {
		s += ", file " + d.File
	}
	if d.Detail != "" {
		s += ", " + d.Detail
	}
	return s
}

// CompareDirs compares every regular file of dirA with the file of the
// same name in dirB, and reports files present in only one. It returns
// no differences when the two directories hold identical artifacts.
func CompareDirs(dirA, dirB string) ([]Difference, error) {
	namesA, err := regularFiles(dirA)
	if err != nil {
		return nil, err
	}
	namesB, err := regularFiles(dirB)
	if err != nil {
		return nil, err
	}
	var diffs []Difference
	for _, n := range union(namesA, namesB) {
		if !namesA[n] || !namesB[n] {
			diffs = append(diffs, Difference{Artifact: n, Offset: -1, Detail: "present in only one build"})
			continue
		}
		d, err := CompareArtifact(filepath.Join(dirA, n), filepath.Join(dirB, n))
		if err != nil {
			return nil, err
		}
		if d != nil {
			diffs = append(diffs, *d)
		}
	}
	return diffs, nil
}

// CompareArtifact compares two files; disk images (*.img) are explained
// by partition and ESP file. It returns nil when they are identical.
func CompareArtifact(a, b string) (*Difference, error) {
	off, sizeA, sizeB, err := FirstDifference(a, b)
	if err != nil || off == NoDifference {
		return nil, err
	}
	d := &Difference{Artifact: filepath.Base(a), Offset: off, SizeA: sizeA, SizeB: sizeB}
	if filepath.Ext(a) == ".img" && off >= 0 {
		explainImage(d, a, b)
	}
	return d, nil
}

// NoDifference is FirstDifference's offset for identical files.
const NoDifference = int64(-2)

// FirstDifference streams both files and returns the offset of the first
// differing byte, -1 when one is a prefix of the other, or NoDifference.
func FirstDifference(a, b string) (off, sizeA, sizeB int64, err error) {
	fa, err := os.Open(a)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("repro: %w", err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("repro: %w", err)
	}
	defer fb.Close()
	sa, sb, err := sizes(fa, fb)
	if err != nil {
		return 0, 0, 0, err
	}
	off, err = firstDiff(fa, fb)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("repro: compare %s: %w", filepath.Base(a), err)
	}
	if off == NoDifference && sa != sb {
		off = -1
	}
	return off, sa, sb, nil
}

func sizes(fa, fb *os.File) (int64, int64, error) {
	sa, err := fa.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("repro: %w", err)
	}
	sb, err := fb.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("repro: %w", err)
	}
	return sa.Size(), sb.Size(), nil
}

const chunk = 1 << 20

// firstDiff reads both streams in chunks; memory stays at two chunks
// however large the images are.
func firstDiff(ra, rb io.Reader) (int64, error) {
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	var pos int64
	a, b := bufio.NewReaderSize(ra, chunk), bufio.NewReaderSize(rb, chunk)
	for {
		na, errA := io.ReadFull(a, ba)
		nb, errB := io.ReadFull(b, bb)
		n := min(na, nb)
		if !bytes.Equal(ba[:n], bb[:n]) {
			for i := range n {
				if ba[i] != bb[i] {
					return pos + int64(i), nil
				}
			}
		}
		pos += int64(n)
		if done(errA) || done(errB) {
			if err := realErr(errA, errB); err != nil {
				return 0, err
			}
			return NoDifference, nil
		}
	}
}

func done(err error) bool {
	return err != nil
}

func realErr(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
	}
	return nil
}

func regularFiles(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("repro: %w", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if e.Type().IsRegular() {
			out[e.Name()] = true
		}
	}
	return out, nil
}

func union(a, b map[string]bool) []string {
	var out []string
	for n := range a {
		out = append(out, n)
	}
	for n := range b {
		if !a[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
