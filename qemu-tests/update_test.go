package qemutests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/update/agent/omahatest"
)

// TestUpdateThenRollback: v1 asks an Omaha server (reached only through
// a guestfwd) that offers v2; the agent installs it, the machine
// reboots into v2 by itself and marks it good. Then the channel offers
// v3, whose service never becomes healthy: the machine tries it, each
// trial boot reboots after v3's health_timeout, systemd-boot falls back
// to v2 once v3's tries are gone, and the agent reports the rollback,
// denies v3 and does not install it again. No human action in between.
// The server sees the events of Flatcar's update_engine.
func TestUpdateThenRollback(t *testing.T) {
	skipShort(t)
	u := buildUpdateImages(t, omahaServer)
	root := t.TempDir()
	omaha := &omahatest.Server{Repo: root}
	omaha.Offer(u.publish(t, root, "stable", u.v2))
	srv := serve(t, root, omaha)
	img := diskCopy(t, u.v1)
	vars := filepath.Join(t.TempDir(), "vars.fd")
	v := start(t, qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512, AllowReboot: true,
		GuestFwds: []string{guestFwd(t, srv.addr)}})

	t0 := time.Now()
	i, _ := v.expect(0, `imgbuild-sysinit: marked good loader/entries/imgbuild-a.conf`, 5*time.Minute)
	i, _ = v.expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
	i, _ = v.expect(i, `imgbuild-sysinit: reboot`, time.Minute)
	i, _ = v.expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	i, _ = v.expect(i, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
	i, _ = v.expect(i, `\[imgbuild-agent\] 2.0.0 is marked good \(updated from 1.0.0\)`, 2*time.Minute)
	t.Logf("update v1 -> v2: %.1fs from boot to marked good", time.Since(t0).Seconds())
	if got := v.run("/usr/lib/imgbuild/imgbuild-agent status", time.Minute); !strings.Contains(got, "slot B, 2.0.0 (marked good)") ||
		!strings.Contains(got, "slot A, 1.0.0, good") {
		t.Errorf("status on v2: %s", got)
	}

	if got, want := waitEvents(omaha, "13/1 14/1 3/1 3/2<1.0.0"), "13/1 14/1 3/1 3/2<1.0.0"; got != want {
		t.Errorf("events after v2: %q, want %q", got, want)
	}
	omaha.Offer(u.publish(t, root, "stable", u.v3))
	t1 := time.Now()
	i, _ = v.expect(i, `\[imgbuild-agent\] installed 3.0.0 into slot a`, 3*time.Minute)
	i, _ = v.expect(i, `imgbuild-stage1: switching to USR \(slot a\)`, 3*time.Minute)
	for try := 1; try <= 3; try++ {
		i, _ = v.expect(i, `imgbuild-sysinit: TRIAL FAILED`, 3*time.Minute)
	}
	i, _ = v.expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	i, _ = v.expect(i, `\[imgbuild-agent\] ROLLBACK: rolled back from 3.0.0 to slot B: services not healthy`, 2*time.Minute)
	t.Logf("rollback v3 -> v2: %.1fs from publishing v3 to the report", time.Since(t1).Seconds())
	i, _ = v.expect(i, `\[imgbuild-agent\] REFUSED 3.0.0: .*denylist`, time.Minute)
	events := waitEvents(omaha, "13/1 14/1 3/1 3/2<1.0.0 13/1 14/1 3/1 3/0:44 3/0:17")
	if want := "13/1 14/1 3/1 3/2<1.0.0 13/1 14/1 3/1 3/0:44 3/0:17"; !strings.HasPrefix(events, want) {
		t.Errorf("events %q, want them to start with %q", events, want)
	}
	apps := omaha.Apps()
	if last := apps[len(apps)-1]; last.Version != "2.0.0" || last.Track != "stable" || last.Board != "amd64-usr" || len(last.MachineID) != 32 {
		t.Errorf("last request's app: %+v", last)
	}
	got := v.run("/usr/lib/imgbuild/imgbuild-agent status --json | grep -c '\"3.0.0\"'", time.Minute)
	if got == "0" {
		t.Errorf("3.0.0 not on the denylist in the status")
	}
	v.powerdown()
	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].File != "imgbuild-b.conf" {
		t.Errorf("entries after the rollback = %+v, want only imgbuild-b.conf", r.Entries)
	}
	t.Logf("server requests: %d, first %v", len(srv.requests()), srv.requests()[:min(4, len(srv.requests()))])
}

// TestUpdatePowerCut kills QEMU while the agent writes v2 into USR-B.
// The next boot must still be v1 from slot A, and the agent's next
// attempt must install v2, which then boots and is marked good.
func TestUpdatePowerCut(t *testing.T) {
	skipShort(t)
	u := buildUpdateImages(t, staticServer)
	root := t.TempDir()
	u.publish(t, root, "stable", u.v2)
	srv := serveRepo(t, root)
	img := diskCopy(t, u.v1)
	vars := filepath.Join(t.TempDir(), "vars.fd")
	cfg := qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512, AllowReboot: true, GuestFwds: []string{guestFwd(t, srv.addr)}}
	v := start(t, cfg)
	// USR is a few MiB and the write takes well under a second, so cut
	// at its first progress line; where the cut lands is reported.
	v.expect(0, `\[imgbuild-agent\] writing 2.0.0 to USR-B: 0%`, 8*time.Minute)
	v.Kill()
	<-v.Done()

	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	newEntry := ""
	for _, e := range r.Entries {
		if strings.HasPrefix(e.File, "imgbuild-b") {
			newEntry = e.File
		}
	}
	v = start(t, cfg)
	if newEntry == "" {
		// Cut before the entry: the old slot boots, and the next
		// attempt writes the slot again and succeeds.
		t.Log("power cut before USR-B's entry was written")
		i, _ := v.expect(0, `imgbuild-stage1: switching to USR \(slot a\)`, 3*time.Minute)
		i, _ = v.expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
		v.expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	} else {
		// Cut after the entry, the last write that matters: the slot
		// is complete and boots.
		t.Logf("power cut after USR-B's entry %s was written", newEntry)
		v.expect(0, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	}
	v.expect(0, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
}

// waitEvents waits a little for the events to start with want: the agent
// prints its console line before it reports.
func waitEvents(s *omahatest.Server, want string) string {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := strings.Join(s.Events(), " ")
		if strings.HasPrefix(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}
