package qemutests

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/cli"
)

// imgbuild runs the real CLI in-process.
func imgbuild(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Execute(context.Background(), cli.Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e}, args)
	return code, o.String(), e.String()
}

const baseManifest = `name: bad
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
security:
  allow_unsigned: true
binaries:
  - name: busybox
    deb: busybox-static
    path: /bin/busybox
disk:
  usr: 16MiB
  root: 32MiB
`

// TestBadInputFailsCleanly: every kind of bad input gets one clear
// error naming what is wrong, a non-zero exit, and no file at the
// output path.
func TestBadInputFailsCleanly(t *testing.T) {
	res := buildImage(t, "minimal") // a fresh lock to take pins from
	goodLock, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(artifact(t, res, "disk"))), "minimal.lock"))
	if err != nil {
		t.Fatal(err)
	}
	bbSHA := regexp.MustCompile(`(?s)busybox-static:.*?sha256: ([0-9a-f]{64})`).FindSubmatch(goodLock)
	if bbSHA == nil {
		t.Fatalf("no busybox-static pin in\n%s", goodLock)
	}
	big := make([]byte, 24<<20)
	rand.Read(big)

	tests := []struct {
		name     string
		manifest string
		lock     string // written next to the manifest when set
		files    map[string][]byte
		want     string // |-separated parts, each must appear
	}{
		{name: "manifest typo", manifest: strings.Replace(baseManifest, "version:", "versoin:", 1),
			want: `bad.yaml:2:1: unknown field "versoin" in the manifest (did you mean "version"?)`},
		{name: "bad size", manifest: strings.Replace(baseManifest, "usr: 16MiB", "usr: 16 megs", 1),
			want: `bad.yaml:12:8: disk.usr: bad size "16 megs"`},
		{name: "missing package", manifest: strings.Replace(baseManifest, "deb: busybox-static", "deb: imgbuild-no-such-package", 1),
			want: `bad.yaml:9:5: Debian package imgbuild-no-such-package: deb: resolve imgbuild-no-such-package: package imgbuild-no-such-package: not in the archive debian (bookworm`},
		{name: "sha256 mismatch", manifest: baseManifest,
			lock: strings.Replace(string(goodLock), string(bbSHA[1]), strings.Repeat("0", 64), 1),
			want: `bad.lock: Debian package busybox-static: deb: download busybox-static=|: sha256 mismatch: expected 0000`},
		{name: "go build failure", manifest: strings.Replace(baseManifest, "disk:", "  - name: notacommand\n    go: golang.org/x/sys/unix\n    version: v0.50.0\ndisk:", 1),
			want: `binary notacommand: build golang.org/x/sys/unix@v0.50.0: it is package unix, not a command`},
		{name: "USR bigger than its slot", manifest: strings.Replace(baseManifest, "disk:", "  - name: blob\n    local: blob.bin\ndisk:", 1),
			files: map[string][]byte{"blob.bin": big}, want: `disk.usr`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mf := filepath.Join(dir, "bad.yaml")
			os.WriteFile(mf, []byte(tt.manifest), 0o644)
			if tt.lock != "" {
				os.WriteFile(filepath.Join(dir, "bad.lock"), []byte(strings.Replace(tt.lock, "minimal", "bad", -1)), 0o644)
			}
			for n, data := range tt.files {
				os.WriteFile(filepath.Join(dir, n), data, 0o644)
			}
			out := filepath.Join(dir, "out")
			code, _, stderr := imgbuild(t, "build", "-q", "-f", mf, "-o", out)
			if code == 0 {
				t.Fatalf("build succeeded, want an error containing %q", tt.want)
			}
			t.Logf("%s", stderr)
			for _, part := range strings.Split(tt.want, "|") {
				if !strings.Contains(stderr, part) {
					t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, part)
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 12 {
				t.Errorf("error is %d lines long, want a short message:\n%s", n, stderr)
			}
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				t.Errorf("output directory holds %s after a failed build", e.Name())
			}
		})
	}
}
