package ignition

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v3 "github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/vcontext/report"
)

// Problem is one thing wrong with a config, at a field path in
// Ignition's notation ($.storage.files.0.contents.source).
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists every problem found in a config.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return "ignition config: " + strings.Join(s, "; ")
}

func refuse(path, format string, args ...any) *Error {
	return &Error{Problems: []Problem{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

// Config is a parsed, validated config.
type Config struct {
	// SHA256 is the hex sha256 of the config's bytes as received.
	SHA256 string
	cfg    types.Config
}

// Parse parses and validates raw (spec 3.0.0 to 3.5.0; older 3.x
// versions are translated up by Ignition) and refuses every field
// imgbuild does not apply. Ignition's warnings (unknown keys among them)
// are refused too: a misspelt key would otherwise be dropped silently.
func Parse(raw []byte) (*Config, error) {
	sum := sha256.Sum256(raw)
	cfg, rpt, err := v3.ParseCompatibleVersion(raw)
	if probs := reportProblems(rpt); len(probs) > 0 {
		// Name the unsupported fields too, so one run shows every problem.
		var loose types.Config
		if json.Unmarshal(raw, &loose) == nil {
			probs = append(probs, unsupported(loose)...)
		}
		return nil, &Error{Problems: probs}
	}
	if err != nil {
		return nil, refuse("", "%v", err)
	}
	if probs := unsupported(cfg); len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	if probs := checkSupported(cfg); len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return &Config{SHA256: hex.EncodeToString(sum[:]), cfg: cfg}, nil
}

// reportProblems turns Ignition's report into problems, with the line and
// column where Ignition knows them.
func reportProblems(rpt report.Report) []Problem {
	var out []Problem
	for _, e := range rpt.Entries {
		if e.Kind != report.Error && e.Kind != report.Warn {
			continue
		}
		p := Problem{Path: e.Context.String(), Message: e.Message}
		if e.Context.Tag == "json" && e.Context.Len() == 0 {
			p.Path = ""
		}
		if e.Marker.StartP != nil {
			p.Message += " (" + e.Marker.String() + ")"
		}
		out = append(out, p)
	}
	return out
}

// IsConfigError tells a config's own fault (refused by path) from a
// failure to read or apply it.
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
