package deb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/imgbuild/imgbuild/build/deb/archive"
)

// Resolver looks packages up either in the host's apt index or in a
// Debian archive read directly (archive.Client), which needs no apt.
type Resolver struct {
	idx index
}

// AptResolver asks the host's apt (apt-cache); keeping its index fresh
// (apt-get update) is the caller's job.
func AptResolver() *Resolver { return &Resolver{idx: aptIndex{run: runCommand}} }

// ArchiveResolver reads the archive's own signed indexes.
func ArchiveResolver(c *archive.Client) *Resolver { return &Resolver{idx: archiveIndex{c: c}} }

// Resolve returns the candidate version of name (the one `apt-get
// install` would pick) pinned with its archive sha256.
func (r *Resolver) Resolve(ctx context.Context, name string) (Package, error) {
	return resolve(ctx, r.idx, name)
}

// ResolveKernelMeta resolves a kernel metapackage such as
// linux-image-cloud-amd64 to the kernel package its candidate depends on
// (linux-image-6.1.0-NN-cloud-amd64), at the exact version the metapackage
// asks for. A name that already is a kernel package resolves to itself.
func (r *Resolver) ResolveKernelMeta(ctx context.Context, meta string) (Package, error) {
	return resolveKernelMeta(ctx, r.idx, meta)
}

// index is what resolving needs of a package index.
type index interface {
	// candidate is the version apt would install.
	candidate(ctx context.Context, name string) (string, error)
	// show returns the package at version with its Depends field.
	show(ctx context.Context, name, version string) (Package, string, error)
}

type aptIndex struct{ run runFunc }

func (a aptIndex) candidate(ctx context.Context, name string) (string, error) {
	out, err := a.run(ctx, "", "apt-cache", "policy", name)
	if err != nil {
		return "", err
	}
	return parseCandidate(out)
}

func (a aptIndex) show(ctx context.Context, name, version string) (Package, string, error) {
	out, err := a.run(ctx, "", "apt-cache", "show", name+"="+version)
	if err != nil {
		return Package{}, "", err
	}
	for _, st := range archive.ParseStanzas(out) {
		if st["Package"] != name || st["Version"] != version {
			continue
		}
		p := Package{Name: name, Version: version, Arch: st["Architecture"],
			SHA256: st["SHA256"], Filename: st["Filename"]}
		if p.SHA256 == "" {
			return Package{}, "", fmt.Errorf("the index has no SHA256 field")
		}
		return p, st["Depends"], nil
	}
	return Package{}, "", fmt.Errorf("not in apt-cache show output")
}

type archiveIndex struct{ c *archive.Client }

func (a archiveIndex) candidate(ctx context.Context, name string) (string, error) {
	e, err := a.c.Candidate(ctx, name)
	return e.Version, err
}

func (a archiveIndex) show(ctx context.Context, name, version string) (Package, string, error) {
	e, err := a.c.Find(ctx, name, version, "")
	if err != nil {
		return Package{}, "", err
	}
	return Package{Name: name, Version: version, Arch: e.Arch, SHA256: e.SHA256, Filename: e.Filename,
		Source: e.Source, Suite: e.Suite, Snapshot: e.SnapshotStamp()}, e.Depends, nil
}

func resolve(ctx context.Context, idx index, name string) (Package, error) {
	version, err := idx.candidate(ctx, name)
	if err != nil {
		return Package{}, fmt.Errorf("deb: resolve %s: %w", name, err)
	}
	return resolveVersion(ctx, idx, name, version)
}

func resolveVersion(ctx context.Context, idx index, name, version string) (Package, error) {
	p, _, err := showVersion(ctx, idx, name, version)
	return p, err
}

// showVersion returns the package and its Depends field.
func showVersion(ctx context.Context, idx index, name, version string) (Package, string, error) {
	p, depends, err := idx.show(ctx, name, version)
	if err != nil {
		return Package{}, "", fmt.Errorf("deb: resolve %s=%s: %w", name, version, err)
	}
	return p, depends, nil
}

// kernelPackage matches a real kernel image package, not a metapackage.
var kernelPackage = regexp.MustCompile(`^linux-image-[0-9]`)

func resolveKernelMeta(ctx context.Context, run index, meta string) (Package, error) {
	mp, err := resolve(ctx, run, meta)
	if err != nil {
		return Package{}, err
	}
	if kernelPackage.MatchString(meta) {
		return mp, nil
	}
	_, depends, err := showVersion(ctx, run, mp.Name, mp.Version)
	if err != nil {
		return Package{}, err
	}
	// Follow the Depends field rather than `apt-cache depends`: it carries
	// the exact version (= V) the metapackage was built against.
	for _, d := range parseDepends(depends) {
		if !kernelPackage.MatchString(d.name) {
			continue
		}
		if d.op == "=" {
			return resolveVersion(ctx, run, d.name, d.version)
		}
		return resolve(ctx, run, d.name)
	}
	return Package{}, fmt.Errorf("deb: resolve %s=%s: no linux-image-<version> package in Depends %q", meta, mp.Version, depends)
}

// parseCandidate reads the "Candidate:" line of `apt-cache policy NAME`.
func parseCandidate(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "Candidate:"); ok {
			v = strings.TrimSpace(v)
			if v == "" || v == "(none)" {
				return "", fmt.Errorf("apt has no candidate version (is it in a configured archive? was apt-get update run?)")
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("apt does not know the package (was apt-get update run?)")
}

type dependency struct {
	name, op, version string
}

// parseDepends reads a Depends field; of alternatives (a | b) only the
// first counts, as apt prefers it.
func parseDepends(field string) []dependency {
	var deps []dependency
	for _, clause := range strings.Split(field, ",") {
		alt, _, _ := strings.Cut(clause, "|")
		alt = strings.TrimSpace(alt)
		if alt == "" {
			continue
		}
		var d dependency
		name, rest, _ := strings.Cut(alt, "(")
		d.name, _, _ = strings.Cut(strings.TrimSpace(name), ":") // drop :any
		if rest != "" {
			rel := strings.Fields(strings.TrimSuffix(strings.TrimSpace(rest), ")"))
			if len(rel) == 2 {
				d.op, d.version = rel[0], rel[1]
			}
		}
		deps = append(deps, d)
	}
	return deps
}
