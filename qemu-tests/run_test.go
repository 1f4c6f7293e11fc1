package qemutests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/images/inspect"
)

// TestRunUntilHealthy drives imgbuild run --until-healthy the way a
// script would: exit 0 for a healthy image, exit 3 with the failing
// console line for one whose USR was wiped.
func TestRunUntilHealthy(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	img := diskCopy(t, res)
	// run reads the manifest's run settings from the summary beside the image.
	summary, _ := os.ReadFile(artifact(t, res, "summary"))
	os.WriteFile(strings.TrimSuffix(img, ".img")+".json", summary, 0o644)

	code, _, stderr := imgbuild(t, "run", img, "--until-healthy", "--timeout", "4m", "-q", "--forward", "0:8080")
	if code != cli.ExitOK || !strings.Contains(stderr, "imgbuild-sysinit: healthy") {
		t.Fatalf("healthy image: exit %d\n%s", code, stderr)
	}
	// make image runs exactly this: it must say how to log in over SSH.
	if !sshLine.MatchString(stderr) {
		t.Errorf("run --until-healthy does not print how to log in over SSH (want %s):\n%s", sshLine, stderr)
	}

	broken := diskCopy(t, res)
	r, err := inspect.Image(broken)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(broken, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	usrA := r.Partitions[1]
	if _, err := f.WriteAt(make([]byte, 1<<20), usrA.Start); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, _, stderr = imgbuild(t, "run", broken, "--until-healthy", "--timeout", "4m", "-q", "--vars", filepath.Join(t.TempDir(), "vars"))
	if code != cli.ExitUnhealthy || !strings.Contains(stderr, "imgbuild-stage1: FATAL") {
		t.Fatalf("wiped USR: exit %d, want %d with the stage-1 failure\n%s", code, cli.ExitUnhealthy, stderr)
	}
}

// sshLine is the login line run prints for an image with an SSH server:
// the port, the development key and the user.
var sshLine = regexp.MustCompile(`imgbuild: to log in over SSH, boot it with imgbuild run \S+ --ssh-port 2222, then: ssh -p 2222 -i \S+ .*root@127\.0\.0\.1`)

// TestRunDirect boots slot A's kernel and initrd without firmware, as
// imgbuild run --direct does for fast development boots.
func TestRunDirect(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "minimal")
	img := diskCopy(t, res)
	base := strings.TrimSuffix(img, ".img")
	for kind, ext := range map[string]string{"kernel": ".vmlinuz", "initramfs": ".initrd", "summary": ".json"} {
		if err := os.Symlink(artifact(t, res, kind), base+ext); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := imgbuild(t, "run", img, "--direct", "--until-healthy", "--timeout", "3m", "-q", "--forward", "0:8080")
	if code != cli.ExitOK {
		t.Fatalf("run --direct: exit %d\n%s", code, stderr)
	}
	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].File != "imgbuild-a.conf" {
		t.Errorf("entries after a healthy direct boot = %+v, want imgbuild-a.conf", r.Entries)
	}
}
