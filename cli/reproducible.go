package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/images/repro"
)

// checkReproducible builds the manifest a second time into a temporary
// directory with an empty temporary cache, and compares every artifact
// of the first build with its twin, the summary included.
func checkReproducible(ctx context.Context, w io.Writer, opts build.Options, first *output.Result) error {
	tmp, err := os.MkdirTemp("", "imgbuild-repro-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	opts.OutDir, opts.CacheDir = filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	opts.Lock, opts.Report = build.LockFrozen, nil
	fmt.Fprintf(w, "check-reproducible: building again in %s with an empty cache\n", tmp)
	second, err := build.Run(ctx, opts)
	if err != nil {
		return fmt.Errorf("check-reproducible: second build: %w", err)
	}
	var diffs []repro.Difference
	for _, a := range first.Artifacts {
		d, err := repro.CompareArtifact(a.Path, filepath.Join(opts.OutDir, filepath.Base(a.Path)))
		if err != nil {
			return fmt.Errorf("check-reproducible: %w", err)
		}
		if d != nil {
			diffs = append(diffs, *d)
		}
	}
	if len(first.Artifacts) != len(second.Artifacts) {
		return &exitError{ExitFailure, fmt.Errorf("not reproducible: %d artifacts, then %d", len(first.Artifacts), len(second.Artifacts))}
	}
	if len(diffs) == 0 {
		fmt.Fprintf(w, "check-reproducible: all %d artifacts are byte-identical\n", len(first.Artifacts))
		return nil
	}
	for _, d := range diffs {
		fmt.Fprintf(w, "NOT REPRODUCIBLE: %s\n", d)
	}
	return &exitError{ExitFailure, fmt.Errorf("not reproducible: %d of %d artifacts differ (first: %s)", len(diffs), len(first.Artifacts)-1, diffs[0])}
}
