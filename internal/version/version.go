// Package version checks and orders the semantic versions of images
// (semver.org 2.0, written without a leading v: 1.4.0, 1.5.0-rc.1), so
// that "newer" and "downgrade" mean the same to the manifest, the release
// record, the repository and the update agent.
package version

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// Check accepts MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
func Check(v string) error {
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	if strings.HasPrefix(v, "v") || strings.Count(core, ".") != 2 || semver.Canonical("v"+v) == "" {
		return fmt.Errorf("%q is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (e.g. 1.4.0)", v)
	}
	return nil
}

// Compare orders two versions as semver.org does: -1 when a < b, 0 when
// equal (build metadata ignored), +1 when a > b. Invalid versions sort
// below every valid one.
func Compare(a, b string) int { return semver.Compare("v"+a, "v"+b) }
