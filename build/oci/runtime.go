package oci

import (
	"errors"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgbuild/imgbuild/manifest"
)

// Process is what a container service runs, the image config's
// settings with the manifest's overrides applied as docker run applies
// its flags: command replaces the entrypoint and drops the image's cmd
// unless args is set; args replaces cmd; env adds to the image's
// variables and wins; user and workdir replace the image's.
type Process struct {
	Argv    []string
	Env     []string // KEY=VALUE, the image's order, then the manifest's added ones sorted
	User    string
	Workdir string
}

// defaultPath is docker's, for images whose config sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func overridden(env map[string]string, k string) bool {
	_, ok := env[k]
	return ok
}

// Runtime merges the image config c with service s's overrides.
func Runtime(c *v1.ConfigFile, s manifest.Service) (Process, error) {
	ic := c.Config
	entry, cmd := ic.Entrypoint, ic.Cmd
	if s.Command != "" {
		entry, cmd = []string{s.Command}, nil
	}
	if s.Args != nil {
		cmd = s.Args
	}
	p := Process{Argv: append(append([]string{}, entry...), cmd...), User: ic.User, Workdir: ic.WorkingDir}
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		return Process{}, errors.New("the image has neither entrypoint nor cmd: set command")
	}
	if s.User != "" {
		p.User = s.User
	}
	if s.Workdir != "" {
		p.Workdir = s.Workdir
	}
	if p.Workdir == "" {
		p.Workdir = "/"
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hasPath := false
	for _, kv := range append(ic.Env, keys...) {
		k, _, _ := strings.Cut(kv, "=")
		hasPath = hasPath || k == "PATH"
	}
	if !hasPath {
		p.Env = append(p.Env, defaultPath)
	}
	for _, kv := range ic.Env {
		if k, _, _ := strings.Cut(kv, "="); !overridden(s.Env, k) {
			p.Env = append(p.Env, kv)
		}
	}
	for _, k := range keys {
		p.Env = append(p.Env, k+"="+s.Env[k])
	}
	return p, nil
}
