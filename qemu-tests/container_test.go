package qemutests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/oci/ocitest"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/manifest"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/sign"
)

// TestContainerService builds an OCI image of a small Go HTTP server
// (the probe, which reports what it sees), references it by digest
// from the minimal image's manifest, boots, and asks the server through
// a port forward: it runs as the image's user in namespaces of its own,
// with the image's tree as a read-only root that is not the machine's
// (no /usr/lib/os-release), and writes its state to ROOT.
func TestContainerService(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	digest := probeLayout(t, filepath.Join(work, "oci-app"))
	app := "services:\n  - name: app\n    image: oci-app@" + digest + "\n    env: {MODE: manifest}\n" +
		"    state: {dir: /var/lib/app, mount: /data}\n    health: {http: \"http://127.0.0.1:8081/\"}\n" +
		// The same program bare, started at the same moment: the gap
		// between their ready lines is what the container costs at boot.
		"  - name: bare\n    command: /usr/lib/imgbuild/images/app/rootfs/app/probe\n    args: [-listen, \":8082\"]\n" +
		"    user: \"1000\"\n    health: {http: \"http://127.0.0.1:8082/\"}\n"
	// Signed, so that imgbuild verify checks USR against the record.
	mf := writeMinimalWith(t, work, "\nservices:\n", "\n"+app, "allow_unsigned: true", "allow_unsigned: false")
	keys := filepath.Join(work, "key")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sign.GenerateKey(keys); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out"), SignKey: filepath.Join(keys, sign.PrivateKeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %.1fs", time.Since(start).Seconds())
	lock, err := manifest.LoadLock(manifest.LockPath(mf))
	if err != nil || lock.Images["app"].Digest != digest {
		t.Fatalf("lock: images %+v, %v; want app pinned to %s", lock.Images, err, digest)
	}

	// The image's files are in USR, under the verity tree verify checks.
	disk := diskCopy(t, res)
	if code, out := imgbuildOut(t, "verify", disk, "--pub", filepath.Join(keys, sign.PublicKeyFile)); code != 0 {
		t.Fatalf("imgbuild verify: exit %d\n%s", code, out)
	}
	list, err := exec.Command("unsquashfs", "-lls", "-o", "0", artifact(t, res, "usr")).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, list)
	}
	for _, want := range []string{"lib/imgbuild/images/app/rootfs/app/probe", "lib/imgbuild/images/app/rootfs/app/secret.txt"} {
		if !bytes.Contains(list, []byte(want)) {
			t.Errorf("USR lacks %s", want)
		}
	}

	port := freePort(t)
	v := boot(t, disk, filepath.Join(work, "vars"), 512, qemu.Forward{Host: port, Guest: 8081})
	v.ExpectHealthy(4 * time.Minute)
	logReadyGap(t, v.Output(), "app", "bare")
	got := get(t, port, "/bump")
	for _, want := range []string{"hostname=app\n", "uid=1000\n", "pid1=imgbuild-container:app " + contract.ContainerVerb + " ",
		"secret=only in the image (<nil>)", "host-os-release=false\n", "write-root=true\n", "state-count=1 (<nil>)", "env-mode=manifest\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("the service's report lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "root=app,data,dev,etc,proc,tmp\n") {
		t.Errorf("the service's root is not the image's:\n%s", got)
	}
	if got := get(t, port, "/bump"); !strings.Contains(got, "state-count=2 (<nil>)") {
		t.Errorf("second request:\n%s", got)
	}
	if got := v.Run("cat /var/lib/app/count; echo; busybox stat -c %u /var/lib/app", time.Minute); got != "2 1000" {
		t.Errorf("state on ROOT: %q, want the count 2 in a directory of uid 1000", got)
	}
	if got := v.Run("cat /usr/lib/imgbuild/images/app/rootfs/app/secret.txt", time.Minute); got != "only in the image" {
		t.Errorf("the image's tree on USR: %q", got)
	}
	// The status record names the image as the manifest does, not the
	// tree it was unpacked to.
	var rec struct{ Image, State string }
	got = v.Run("imgbuild-services status -json app", time.Minute)
	if err := json.Unmarshal([]byte(got), &rec); err != nil || rec.Image != "oci-app@"+digest || rec.State != "healthy" {
		t.Errorf("imgbuild-services status -json app: %q (%v); want healthy, image oci-app@%s", got, err, digest)
	}
	v.Powerdown()
}

// logReadyGap reports when each service was ready, by the guest's clock,
// and how much later the first was.
func logReadyGap(t *testing.T, console, a, b string) {
	t.Helper()
	at := func(name string) float64 {
		m := regexp.MustCompile(regexp.QuoteMeta(name) + ` ready at ([0-9.]+)s`).FindStringSubmatch(console)
		if m == nil {
			t.Errorf("no ready line of %s on the console", name)
			return 0
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		return f
	}
	ta, tb := at(a), at(b)
	t.Logf("ready: %s at %.2fs, %s at %.2fs since boot: %s %+.0f ms (health probes every 50 ms)", a, ta, b, tb, a, (ta-tb)*1000)
}

func get(t *testing.T, port int, path string) string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + path)
	if err != nil {
		t.Fatalf("the container service through the port forward: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	return string(body)
}

// probeLayout writes an OCI image layout of the probe (built static)
// with its user, a file only the image has and a config naming the
// entrypoint, and returns the image manifest's digest.
func probeLayout(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../rootfs/container/testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	probe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ocitest.Layer(
		ocitest.Reg("app/probe", 0o755, string(probe)),
		ocitest.Reg("app/secret.txt", 0o644, "only in the image\n"),
		ocitest.Reg("etc/passwd", 0o644, "root:x:0:0::/:/app/probe\napp:x:1000:1000::/data:/app/probe\n"),
		ocitest.Reg("etc/group", 0o644, "root:x:0:\napp:x:1000:\n"),
	)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ocitest.Image("amd64", v1.Config{Entrypoint: []string{"/app/probe"}, Cmd: []string{"-listen", ":8081"},
		Env: []string{"PATH=/app", "STATE=/data", "MODE=image"}, User: "app", WorkingDir: "/app"}, l)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ocitest.WriteLayout(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
