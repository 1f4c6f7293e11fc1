package build

import (
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/manifest"
)

// fileEntry must not trust that validation ran: a manifest built in code
// reaches it directly, and a wrapped uid would own files as someone else.
func TestFileEntryOwner(t *testing.T) {
	m := &manifest.Manifest{File: "demo.yaml"}
	e, err := fileEntry(m, manifest.File{Path: "/etc/motd", Content: "hi", Owner: "1000:100"})
	if err != nil || e.UID != 1000 || e.GID != 100 {
		t.Fatalf("owner 1000:100: uid %d gid %d err %v", e.UID, e.GID, err)
	}
	for _, owner := range []string{"4294967296:0", "0:4294967296", "4294967295:0", "root:0"} {
		_, err := fileEntry(m, manifest.File{Path: "/etc/motd", Content: "hi", Owner: owner})
		if err == nil || !strings.Contains(err.Error(), owner) {
			t.Errorf("owner %q: err %v, want an error naming it", owner, err)
		}
	}
}
