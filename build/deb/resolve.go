package deb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Resolve asks apt for the candidate version of name (the one `apt-get
// install` would pick) and returns it pinned with its archive sha256.
// Keeping the package index fresh (`apt-get update`) is the caller's job.
func Resolve(ctx context.Context, name string) (Package, error) {
	return resolve(ctx, runCommand, name)
}

// ResolveVersion returns the exact build name=version from apt's index.
func ResolveVersion(ctx context.Context, name, version string) (Package, error) {
	return resolveVersion(ctx, runCommand, name, version)
}

// ResolveKernelMeta resolves a kernel metapackage such as
// linux-image-cloud-amd64 to the kernel package its candidate depends on
// (linux-image-6.1.0-NN-cloud-amd64), at the exact version the metapackage
// asks for. A name that already is a kernel package resolves to itself.
func ResolveKernelMeta(ctx context.Context, meta string) (Package, error) {
	return resolveKernelMeta(ctx, runCommand, meta)
}

func resolve(ctx context.Context, run runFunc, name string) (Package, error) {
	out, err := run(ctx, "", "apt-cache", "policy", name)
	if err != nil {
		return Package{}, fmt.Errorf("deb: resolve %s: %w", name, err)
	}
	version, err := parseCandidate(out)
	if err != nil {
		return Package{}, fmt.Errorf("deb: resolve %s: %w", name, err)
	}
	return resolveVersion(ctx, run, name, version)
}

func resolveVersion(ctx context.Context, run runFunc, name, version string) (Package, error) {
	p, _, err := showVersion(ctx, run, name, version)
	return p, err
}

// showVersion returns the package and its Depends field.
func showVersion(ctx context.Context, run runFunc, name, version string) (Package, string, error) {
	out, err := run(ctx, "", "apt-cache", "show", name+"="+version)
	if err != nil {
		return Package{}, "", fmt.Errorf("deb: resolve %s=%s: %w", name, version, err)
	}
	for _, st := range parseStanzas(out) {
		if st["Package"] != name || st["Version"] != version {
			continue
		}
		p := Package{Name: name, Version: version, Arch: st["Architecture"],
			SHA256: st["SHA256"], Filename: st["Filename"]}
		if p.SHA256 == "" {
			return Package{}, "", fmt.Errorf("deb: resolve %s=%s: the index has no SHA256 field", name, version)
		}
		return p, st["Depends"], nil
	}
	return Package{}, "", fmt.Errorf("deb: resolve %s=%s: not in apt-cache show output", name, version)
}

// kernelPackage matches a real kernel image package, not a metapackage.
var kernelPackage = regexp.MustCompile(`^linux-image-[0-9]`)

func resolveKernelMeta(ctx context.Context, run runFunc, meta string) (Package, error) {
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

// parseStanzas splits deb822 text (apt-cache show) into field maps.
// Continuation lines are appended to their field.
func parseStanzas(out []byte) []map[string]string {
	var stanzas []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			stanzas = append(stanzas, cur)
		}
		cur, last = map[string]string{}, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = k
			cur[k] = strings.TrimSpace(v)
		}
	}
	flush()
	return stanzas
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
