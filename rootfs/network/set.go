package network

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// NIC is a network interface as files match it.
type NIC struct {
	Name string
	MAC  net.HardwareAddr
}

// Matches says whether f's [Match] section selects n.
func (f *File) Matches(n NIC) bool {
	m := f.Match
	if len(m.Names) > 0 {
		hit := false
		for _, g := range m.Names {
			if ok, _ := path.Match(g, n.Name); ok {
				hit = true
				break
			}
		}
		if hit == m.InvertName {
			return false
		}
	}
	if len(m.MACs) > 0 {
		hit := false
		for _, mac := range m.MACs {
			if bytes.Equal(mac, n.MAC) {
				hit = true
				break
			}
		}
		if hit == m.InvertMAC {
			return false
		}
	}
	return true
}

// Set is every .network file of a machine, in the order systemd reads
// them: lexical by file name.
type Set struct {
	Files []*File
	// SHA256 covers every file's name and content: two loads with the
	// same sum configure the same.
	SHA256 [32]byte
}

// Match returns the first file (lexically) that selects n, or nil: as
// in systemd, later files that would match too are not looked at.
func (s *Set) Match(n NIC) *File {
	for _, f := range s.Files {
		if f.Matches(n) {
			return f
		}
	}
	return nil
}

// Kind is what the configuration directory does with a file by its
// name (its path relative to the directory).
type Kind int

const (
	// Ignored names are not systemd-networkd's (a README, an editor's
	// backup): systemd does not read them either.
	Ignored Kind = iota
	// Parsed names are .network files.
	Parsed
	// Refused names are networkd's, but imgbuild does not apply them:
	// .netdev (virtual devices), .link (udev's renames, MTU),
	// drop-in directories (NAME.network.d/*.conf).
	Refused
)

// KindOf tells what becomes of rel, a file's path relative to the
// .network files' directory, and why for a refused one.
func KindOf(rel string) (Kind, string) {
	dir, base := path.Split(filepath.ToSlash(rel))
	switch {
	case dir == "" && strings.HasSuffix(base, ".network"):
		return Parsed, ""
	case dir == "" && (strings.HasSuffix(base, ".netdev") || strings.HasSuffix(base, ".link")):
		return Refused, "only .network files are applied (no .netdev or .link files)"
	case strings.HasSuffix(strings.TrimSuffix(dir, "/"), ".network.d") || strings.HasSuffix(strings.TrimSuffix(dir, "/"), ".netdev.d"):
		return Refused, "drop-in directories are not applied; put the settings in the .network file"
	}
	return Ignored, ""
}

// Load reads and checks every file in dir (usually
// contract.NetworkDir); a missing dir is an empty set. Nothing is
// applied: the error (an *Error when the files' content is at fault)
// names every problem of every file.
func Load(dir string) (*Set, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return &Set{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network files: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		if e.IsDir() {
			if k, _ := KindOf(name + "/x.conf"); k == Refused {
				if sub, _ := os.ReadDir(p); len(sub) > 0 {
					files[name+"/"] = nil
				}
			}
			continue
		}
		if k, _ := KindOf(name); k == Ignored {
			continue
		}
		// A symlink to /dev/null masks a file in systemd, and so does an
		// empty one: both are skipped.
		if t, err := os.Readlink(p); err == nil && t == "/dev/null" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("network files: %w", err)
		}
		files[name] = b
	}
	return ParseAll(dir, files)
}

// ParseAll parses and checks files (name relative to dir: content) as a
// set; problems name each file as dir/name. A name ending "/" is a
// non-empty drop-in directory.
func ParseAll(dir string, files map[string][]byte) (*Set, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	set := &Set{}
	h := sha256.New()
	var probs []Problem
	for _, n := range names {
		full := path.Join(dir, n)
		kind, why := KindOf(n)
		if strings.HasSuffix(n, "/") {
			kind, why = KindOf(n + "x.conf")
		}
		switch kind {
		case Ignored:
			continue
		case Refused:
			probs = append(probs, Problem{File: full, Message: why})
			continue
		}
		if len(bytes.TrimSpace(files[n])) == 0 {
			continue // masked
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
		f, err := Parse(full, files[n])
		var e *Error
		if errors.As(err, &e) {
			probs = append(probs, e.Problems...)
			continue
		}
		set.Files = append(set.Files, f)
	}
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	copy(set.SHA256[:], h.Sum(nil))
	return set, nil
}
