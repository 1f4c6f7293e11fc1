package updater

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// State is what the agent remembers across runs and boots, in
// StateDir/status.json.
type State struct {
	LastCheck     time.Time `json:"last_check,omitzero"`
	LastOffered   string    `json:"last_offered,omitempty"` // version the server offered at LastCheck
	LastError     string    `json:"last_error,omitempty"`
	LastErrorCode int       `json:"last_error_code,omitempty"`
	// LastRefused is the version the last refusal was about: a release
	// refused for a reason that cannot change is not tried (nor
	// reported) again at every check.
	LastRefused string `json:"last_refused,omitempty"`
	// Installed is a release written to the passive slot and not yet
	// confirmed by a boot of it.
	Installed *Installed `json:"installed,omitempty"`
	// Unsent is the outcomes of updates (marked good, rolled back) the
	// server has not taken yet, oldest first: sent again before every
	// check, as the server's rollouts pause on rollbacks it hears of.
	Unsent []Event `json:"unsent,omitempty"`
}

// maxUnsent bounds State.Unsent; the newest are kept.
const maxUnsent = 16

// Installed names a release waiting for its trial boot.
type Installed struct {
	Version  string    `json:"version"`
	Previous string    `json:"previous"` // the version that installed it
	Slot     string    `json:"slot"`
	At       time.Time `json:"at"`
	// BootID is the boot that wrote it (Agent.BootID).
	BootID string `json:"boot_id,omitempty"`
}

const (
	statusFile   = "status.json"
	denylistFile = "denylist"
	downloadDir  = "download"
)

func (a *Agent) loadState() (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(a.StateDir, statusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("agent: state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		// A torn status file must not stop updates: start afresh.
		return State{}, nil
	}
	return s, nil
}

func (a *Agent) saveState(s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	return writeFileSync(filepath.Join(a.StateDir, statusFile), append(data, '\n'))
}

// updateState applies fn to the stored state and saves it.
func (a *Agent) updateState(fn func(*State)) error {
	s, err := a.loadState()
	if err != nil {
		return err
	}
	fn(&s)
	return a.saveState(s)
}

// Denylist is the versions this machine will not install again: their
// trial boots failed here.
func (a *Agent) Denylist() ([]string, error) {
	f, err := os.Open(filepath.Join(a.StateDir, denylistFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: denylist: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v := strings.TrimSpace(sc.Text()); v != "" && !strings.HasPrefix(v, "#") {
			out = append(out, v)
		}
	}
	return out, sc.Err()
}

func (a *Agent) deny(version string) error {
	list, err := a.Denylist()
	if err != nil {
		return err
	}
	if slices.Contains(list, version) {
		return nil
	}
	list = append(list, version)
	return writeFileSync(filepath.Join(a.StateDir, denylistFile), []byte(strings.Join(list, "\n")+"\n"))
}

// writeFileSync makes path's directories and writes it through the one
// atomic write (fsutil: file fsync, rename, directory fsync), mode 0600
// as the agent's files have always been.
func writeFileSync(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	return nil
}
