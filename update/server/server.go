// Package server is imgbuild serve: it serves an update repository's
// files (GET, HEAD, Range) to any client and answers Omaha v3 update
// checks in the dialect of Flatcar's update_engine at /v1/update/, and
// keeps what every machine reported (/v1/machines, .serve/machines.json)
// and how far each version is rolled out (/v1/rollouts,
// .serve/rollouts.json), pausing a rollout by itself on rollbacks.
// docs/updates.md describes the dialect.
package server

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/update/repo"
)

// Paths the server answers besides the repository's files.
const (
	OmahaPath    = "/v1/update/"
	MachinesPath = "/v1/machines"
	RolloutsPath = "/v1/rollouts"
	// StateDir is the server's own state inside the repository; paths
	// with a dot component are never served.
	StateDir = ".serve"
)

// Options configure a Server.
type Options struct {
	// Keys, when set, are the public keys channel metadata must be
	// signed with before the server offers it; without them the server
	// trusts the files (the machine checks every signature anyway).
	Keys []ed25519.PublicKey
	// BaseURL is the repository root URL put in Omaha answers; empty:
	// http://<the request's Host>/.
	BaseURL string
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// PauseAfter is how many machines' rollbacks of a version pause its
	// rollout: 0 means 1, a negative number never.
	PauseAfter int
	// Log receives one line per Omaha request; nil: silent.
	Log func(line string)
}

// Server serves one repository directory.
type Server struct {
	root     string
	opts     Options
	machines *Machines
	rollouts *Rollouts
	mux      *http.ServeMux
}

// New opens the repository at root and the machines recorded before.
func New(root string, opts Options) (*Server, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("serve: repository: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("serve: repository %s is not a directory", root)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = func(string) {}
	}
	m, err := OpenMachines(MachinesFile(root))
	if err != nil {
		return nil, err
	}
	if opts.PauseAfter == 0 {
		opts.PauseAfter = 1
	}
	rs, err := OpenRollouts(RolloutsFile(root))
	if err != nil {
		return nil, err
	}
	s := &Server{root: root, opts: opts, machines: m, rollouts: rs, mux: http.NewServeMux()}
	s.mux.HandleFunc(OmahaPath, s.omaha)
	s.mux.HandleFunc(MachinesPath, s.listMachines)
	s.mux.HandleFunc(RolloutsPath, s.rolloutsAPI)
	s.mux.HandleFunc("/", s.files)
	return s, nil
}

// MachinesFile is where a repository's server keeps the machines' reports.
func MachinesFile(root string) string {
	return filepath.Join(root, StateDir, "machines.json")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// channel reads a channel's metadata, checking its signature when the
// server was given keys.
func (s *Server) channel(name string) (*repo.Channel, error) {
	if !validChannel(name) {
		return nil, fmt.Errorf("serve: channel %q: not a channel name", name)
	}
	if len(s.opts.Keys) > 0 {
		return repo.ReadChannel(repo.Dir(s.root), name, s.opts.Keys)
	}
	data, err := os.ReadFile(filepath.Join(s.root, filepath.FromSlash(repo.ChannelPath(name))))
	if err != nil {
		return nil, fmt.Errorf("serve: channel %q: %w", name, err)
	}
	c, err := repo.ParseChannel(data)
	if err != nil {
		return nil, err
	}
	if c.Channel != name {
		return nil, fmt.Errorf("serve: %s holds channel %q", repo.ChannelPath(name), c.Channel)
	}
	return c, nil
}

// validChannel accepts the names repo.Publish writes.
func validChannel(name string) bool {
	return name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.machines.List())
}
