package ami

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// StatePath is where the upload of image records its progress.
func StatePath(image string) string { return image + ".publish.json" }

// state is what a rerun needs to resume an interrupted upload: which
// snapshot, for which content, and which blocks EBS has acknowledged.
type state struct {
	SnapshotID  string  `json:"snapshot_id"`
	Region      string  `json:"region"`
	ClientToken string  `json:"client_token"`
	ImageSHA256 string  `json:"image_sha256"` // plan.contentDigest
	ImageSize   int64   `json:"image_size"`
	Completed   bool    `json:"completed"` // CompleteSnapshot was accepted
	Sent        []int64 `json:"sent_blocks"`
}

// loadState returns nil without error when there is no state file.
func loadState(path string) (*state, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return &s, nil
}

// save replaces the state file atomically, so that an interrupt leaves
// the previous checkpoint or this one, never half of one.
func (s *state) save(path string) error {
	slices.Sort(s.Sent)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := fsutil.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// mismatch says why s cannot continue the upload of p to region, or "".
func (s *state) mismatch(p *plan, region string) string {
	switch {
	case s.SnapshotID == "":
		return "it names no snapshot"
	case s.Region != region:
		return fmt.Sprintf("it is for region %s", s.Region)
	case s.ImageSHA256 != p.digest || s.ImageSize != p.size:
		return "the image changed since"
	}
	return ""
}
