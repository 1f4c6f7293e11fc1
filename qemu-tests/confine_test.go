package qemutests

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build"
)

// confinedServices are the misbehaving services TestConfinement adds to
// the minimal image: one that allocates past its memory limit, a fork
// bomb, and one without CAP_NET_RAW that pings.
const confinedServices = `services:
  - name: hog
    command: /usr/bin/busybox
    args: [dd, if=/dev/zero, of=/dev/null, bs=48M, count=1]
    limits: {memory: 16MiB}
    backoff: {initial: 1s, max: 2s}
  - name: bomb
    command: /usr/bin/busybox
    args: [sh, -c, "busybox sh -c 'while :; do busybox sleep 600 & done'; echo bomb stopped; exec busybox sleep 100000"]
    limits: {pids: 20}
  - name: noraw
    command: /usr/bin/busybox
    args: [sh, -c, "busybox ping -c 1 127.0.0.1; exec busybox sleep 100000"]
    capabilities: [NET_BIND_SERVICE]
    no_new_privs: true
`

// TestConfinement boots services the manifest confines and watches each
// hit its wall while the machine stays healthy and its shell usable:
// the hog is OOM-killed in its cgroup and restarted, the fork bomb stops
// at pids.max, ping without CAP_NET_RAW cannot open its raw socket
// (the console's root shell, unconfined, can).
func TestConfinement(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "manifests", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("\nservices:\n")) {
		t.Fatal("manifests/minimal.yaml has no services: section; update this test")
	}
	src = bytes.Replace(src, []byte("\nservices:\n"), []byte("\n"+confinedServices), 1)
	mf := filepath.Join(work, "minimal.yaml")
	if err := os.WriteFile(mf, src, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	v := boot(t, diskCopy(t, res), filepath.Join(work, "vars"), 512)
	v.ExpectHealthy(4 * time.Minute)
	i, _ := v.Expect(0, `hog exited \(signal 9\), restarting`, time.Minute)
	v.Expect(i, `hog exited \(signal 9\), restarting`, time.Minute) // restarted, killed again
	if got := v.Run("cat /sys/fs/cgroup/services/hog/memory.events", time.Minute); !regexp.MustCompile(`oom_kill [1-9]`).MatchString(got) {
		t.Errorf("hog's memory.events: %q; want an OOM kill", got)
	}
	if strings.Contains(v.Output(), "[hog] 1+0 records out") {
		t.Error("hog allocated 48 MiB past its 16 MiB limit")
	}

	v.Expect(0, `\[bomb\] bomb stopped`, 2*time.Minute)
	got := v.Run("cat /sys/fs/cgroup/services/bomb/pids.current /sys/fs/cgroup/services/bomb/pids.events", time.Minute)
	if f := strings.Fields(got); len(f) < 3 || atoi(f[0]) < 1 || atoi(f[0]) > 20 || f[2] == "0" {
		t.Errorf("bomb's pids.current and pids.events: %q; want at most 20 and the limit hit", got)
	}
	if got := v.Run("echo shell-$((40+2))", time.Minute); got != "shell-42" {
		t.Errorf("the shell after the fork bomb: %q", got)
	}

	v.Expect(0, `\[noraw\] ping: .*(ermission denied|not permitted)`, time.Minute)
	if got := v.Run("busybox ping -c 1 127.0.0.1 >/dev/null && echo pinged", time.Minute); got != "pinged" {
		t.Errorf("root's ping from the shell: %q", got)
	}
	v.Powerdown()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
