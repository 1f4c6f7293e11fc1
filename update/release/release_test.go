package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/update/repo"
)

func writeSummary(t *testing.T, dir, name string, kinds ...string) {
	t.Helper()
	res := output.Result{Name: name, Version: "1.0.0"}
	for _, k := range kinds {
		res.Artifacts = append(res.Artifacts, output.Artifact{Kind: k, Path: "/elsewhere/" + name + "." + k})
	}
	data, _ := json.Marshal(res)
	os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644)
	os.WriteFile(filepath.Join(dir, name+".release.json"), []byte("{}"), 0o644)
}

func TestReadBuild(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadBuild(dir); err == nil || !strings.Contains(err.Error(), "no build summary") {
		t.Errorf("empty directory: %v", err)
	}
	writeSummary(t, dir, "minimal", "release", "usr", "kernel", "initramfs")
	res, err := ReadBuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Artifact paths are taken beside the summary, wherever the build ran.
	if res.Artifacts[1].Path != filepath.Join(dir, "minimal.usr") {
		t.Errorf("artifact path %s", res.Artifacts[1].Path)
	}
	if _, err := Files(res); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Errorf("Files of an unsigned build: %v", err)
	}
	writeSummary(t, dir, "etcd", "release", "signature", "usr", "kernel")
	if _, err := ReadBuild(dir); err == nil || !strings.Contains(err.Error(), "several builds") {
		t.Errorf("two builds: %v", err)
	}
	res, err = ReadBuild(filepath.Join(dir, "etcd.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Files(res); err == nil || !strings.Contains(err.Error(), "no initramfs") {
		t.Errorf("Files of a build without initramfs: %v", err)
	}
}

func TestGuard(t *testing.T) {
	cur := &repo.Channel{Channel: "alpha", Since: time.Now(), Payload: repo.Payload{Name: "minimal", Version: "1.0.0-nightly.20261201143000"}}
	for ver, ok := range map[string]bool{
		"1.0.0-nightly.20261201143001": true, "1.0.0": true, "1.0.1": true,
		"1.0.0-nightly.20261201143000": false, "1.0.0-nightly.20261130235959": false, "0.9.9": false,
	} {
		if err := Guard(cur, "minimal", ver); (err == nil) != ok {
			t.Errorf("Guard(%s) = %v, want ok=%v", ver, err, ok)
		}
	}
	if err := Guard(cur, "etcd", "9.0.0"); err == nil {
		t.Error("another image's release was let onto the channel")
	}
	if err := Guard(nil, "minimal", "0.0.1"); err != nil {
		t.Errorf("a new channel: %v", err)
	}
}
