package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addFiles seeds a fuzz target with the repository's real manifests or
// locks, so mutation starts from inputs that reach validation.
func addFiles(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join("..", "manifests", pattern))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	addFiles(f, "*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("f.yaml", data)
		if err != nil {
			// A user fixes the file the message points at.
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if m.Name == "" {
			t.Error("accepted a manifest without a name")
		}
	})
}

func FuzzLock(f *testing.F) {
	// The real locks are tens of kilobytes of go.sum lines, which slow
	// mutation to a crawl; the small one reaches the same fields.
	addFiles(f, "minimal.lock")
	f.Add([]byte("source_date_epoch: 1\ngo_toolchain: go1.22\ndebs: {}\ngo:\n  x:\n    package: a/b\n    version: v1\n    go_mod: |\n      module m\n    go_sum: \"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLock("x.lock", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "x.lock") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		// A build rewrites the lock it read; the rewrite must pin the same inputs.
		out, err := l.Marshal()
		if err != nil {
			t.Fatalf("accepted a lock it cannot write: %v", err)
		}
		again, err := parseLock("x.lock", out)
		if err != nil {
			t.Fatalf("cannot read the lock it wrote: %v\n%s", err, out)
		}
		if !again.Equal(l) {
			t.Errorf("round trip changed the lock:\n%s", out)
		}
	})
}
