package qemutests

import (
	"encoding/json"
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
  - name: sealed
    command: /usr/bin/busybox
    args: [sh, -c, "busybox mount -t tmpfs none /mnt; echo x > /var/lib/sealed/ok && echo wrote-state; echo x > /etc/sealed; echo x > /tmp/mine && echo wrote-tmp; exec busybox sleep 100000"]
    seccomp: default
    read_only: true
    writable: [/var/lib/sealed]
  - name: nobody
    command: /usr/bin/busybox
    args: [sh, -c, "busybox grep -E '^(Uid|CapEff|CapBnd)' /proc/self/status; exec busybox sleep 100000"]
    user: "65534"
    capabilities: []
`

// TestConfinement boots services the manifest confines and watches each
// hit its wall while the machine stays healthy and its shell usable:
// the hog is OOM-killed in its cgroup and restarted, the fork bomb stops
// at pids.max, ping without CAP_NET_RAW cannot open its raw socket
// (the console's root shell, unconfined, can), a root service with
// every capability but the default seccomp profile cannot mount, and
// sees the system read-only but for its state and a /tmp of its own; a
// non-root service's bounding set is cut too. imgbuild-services shows
// it all.
func TestConfinement(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	mf := writeMinimalWith(t, work, "\nservices:\n", "\n"+confinedServices)
	res, err := build.Run(t.Context(), build.Options{Manifest: mf, OutDir: filepath.Join(work, "out")})
	if err != nil {
		t.Fatal(err)
	}
	v := boot(t, diskCopy(t, res), filepath.Join(work, "vars"), 512)
	v.ExpectHealthy(4 * time.Minute)
	// The kernel's OOM reports would land inside the shell's answers.
	v.Run("echo 1 > /proc/sys/kernel/printk", time.Minute)
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

	// busybox says EPERM so.
	v.Expect(0, `\[sealed\] mount: permission denied`, time.Minute)
	if got := v.Run("busybox mkdir -p /run/m && busybox mount -t tmpfs none /run/m && echo mounted && busybox umount /run/m", time.Minute); got != "mounted" {
		t.Errorf("root's mount from the shell: %q", got)
	}
	v.Expect(0, `\[sealed\] wrote-state`, time.Minute)
	v.Expect(0, `\[sealed\] .*/etc/sealed: Read-only file system`, time.Minute)
	v.Expect(0, `\[sealed\] wrote-tmp`, time.Minute)
	if got := v.Run("cat /var/lib/sealed/ok; ls /tmp/mine 2>&1 | busybox wc -l; ls /etc/sealed 2>/dev/null | busybox wc -l", time.Minute); strings.Fields(got)[0] != "x" || strings.Join(strings.Fields(got)[1:], " ") != "1 0" {
		t.Errorf("sealed's writes on the machine: %q; want its state written, its /tmp its own (ls says one line of error), /etc untouched", got)
	}
	v.Expect(0, `\[nobody\] Uid:\s+65534`, time.Minute)
	v.Expect(0, `\[nobody\] CapEff:\s+0+\b`, time.Minute)
	v.Expect(0, `\[nobody\] CapBnd:\s+0+\b`, time.Minute)

	// The table, for the log (the console joins its lines); the checks
	// read -json.
	t.Logf("imgbuild-services status: %s", v.Run("imgbuild-services status", time.Minute))
	var st struct {
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
		Usage    struct {
			MemoryMax int64 `json:"memory_max_bytes"`
			OOMKills  int64 `json:"oom_kills"`
			Pids      int64 `json:"pids"`
			PidsMax   int64 `json:"pids_max"`
		} `json:"usage"`
	}
	status := func(name string) {
		t.Helper()
		got := v.Run("imgbuild-services status -json "+name, time.Minute)
		st.State = ""
		if err := json.Unmarshal([]byte(got), &st); err != nil {
			t.Fatalf("imgbuild-services status -json %s: %v: %q", name, err, got)
		}
	}
	status("hog")
	if st.Restarts < 1 || st.Usage.OOMKills < 1 || st.Usage.MemoryMax != 16<<20 {
		t.Errorf("hog's status: %+v; want restarts and OOM kills under a 16 MiB limit", st)
	}
	status("bomb")
	if st.State != "running" || st.Usage.PidsMax != 20 || st.Usage.Pids < 10 || st.Usage.Pids > 20 {
		t.Errorf("bomb's status: %+v; want it running near its 20 tasks", st)
	}
	status("sealed")
	if st.State != "running" || st.Restarts != 0 {
		t.Errorf("sealed's status: %+v; want it running, never restarted", st)
	}
	v.Powerdown()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
