package build

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/manifest"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// finish writes the summary, saves the lock and publishes the outputs;
// diskSum is the disk's digest (diskDigest), changes what this run
// changed in the lock.
func (b *builder) finish(art artifacts, diskSum string, changes []string) (*output.Result, error) {
	res := &output.Result{Name: b.m.Name, Version: b.m.Version, Target: b.opts.Target, SourceDateEpoch: b.lock.SourceDateEpoch,
		LockChanges: changes, Run: output.RunSettings{MemoryMiB: int(b.m.Run.Memory >> 20), Arch: b.m.Arch}}
	res.USREncoder = usrEncoder(usrOptions(b.m.USR, b.epoch()))
	if b.m.SSH != nil {
		res.Run.SSHPort = b.m.SSH.Port
	}
	for _, f := range b.m.Run.Forwards {
		res.Run.Forwards = append(res.Run.Forwards, output.PortFwd{Host: f.Host, Guest: f.Guest})
	}
	for _, a := range art.list() {
		var err error
		if a.SHA256, a.Size, err = artifactSum(a, diskSum); err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, a)
	}
	summary := filepath.Join(b.stage, b.m.Name+".json")
	final := *res
	// What this run changed in the lock is news for the caller, not a
	// property of the image: leaving it out keeps the summary file
	// reproducible.
	final.Artifacts, final.LockChanges = nil, nil
	for _, a := range res.Artifacts {
		a.Path = filepath.Base(a.Path)
		final.Artifacts = append(final.Artifacts, a)
	}
	data, err := json.MarshalIndent(final, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(summary, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if len(changes) > 0 || b.lock.File == "" {
		if err := b.lock.Save(manifest.LockPath(b.m.File)); err != nil {
			return nil, err
		}
	}
	arts, err := publish(b.stage, b.opts.OutDir, append(res.Artifacts, output.Artifact{Kind: "summary", Path: summary}))
	if err != nil {
		return nil, err
	}
	res.Artifacts = arts
	return res, nil
}

// publish renames the staged outputs into the output directory.
func publish(stage, outDir string, arts []output.Artifact) ([]output.Artifact, error) {
	out := make([]output.Artifact, 0, len(arts))
	for _, a := range arts {
		dst := filepath.Join(outDir, filepath.Base(a.Path))
		if err := os.Rename(a.Path, dst); err != nil {
			return nil, fmt.Errorf("publish %s: %w", filepath.Base(a.Path), err)
		}
		a.Path = dst
		out = append(out, a)
	}
	return out, nil
}

// artifactSum is an output's sha256 and size; the disk's digest comes
// from diskDigest.
func artifactSum(a output.Artifact, diskSum string) (string, int64, error) {
	if a.Kind != "disk" || diskSum == "" {
		return fsutil.FileSHA256(a.Path)
	}
	st, err := os.Stat(a.Path)
	if err != nil {
		return "", 0, err
	}
	return diskSum, st.Size(), nil
}
