package qemutests

import (
	"crypto/ed25519"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/inspect"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// TestUpdateThenRollback runs one machine through releases published
// the way users publish them and served by imgbuild serve's own handler
// (reached only through a guestfwd), with no human action on the
// machine:
//
//   - v2 is released to alpha with imgbuild release and promoted to beta
//     with imgbuild promote (no object changes); the machine follows beta,
//     installs v2, reboots into it and marks it good; USR-B then holds
//     exactly alpha's usr object (hashed from the disk at the end).
//   - v3, whose service never becomes healthy: three trial boots, each
//     rebooting after v3's health_timeout; systemd-boot 252 falls back to
//     v2; the rollback is reported with 44 and the failed probe, v3 is
//     denied and never installed again: serve pauses its rollout on
//     that report, and once an operator resumes it the machine's own
//     denylist refuses it.
//   - v3b (3.0.1), whose initramfs lacks dm_verity: stage-1 fails on each
//     of its three trial boots and reboots; back on v2, reported with 44,
//     denied.
//
// The server records the events of Flatcar's update_engine.
func TestUpdateThenRollback(t *testing.T) {
	skipShort(t)
	u := buildUpdateImages(t, updateSpec{server: omahaServer, channel: "beta", rollback: true})
	root := t.TempDir()
	u.release(t, root, "alpha", u.v2)
	u.promote(t, root, "2.0.0", "alpha", "beta")
	alphaUSR := channelFile(t, root, "alpha", repo.KindUSR, u.key.pub)
	h, err := server.New(root, server.Options{Keys: []ed25519.PublicKey{mustPublic(t, u.key.pub)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, root, h)
	img := diskCopy(t, u.v1)
	vars := filepath.Join(t.TempDir(), "vars.fd")
	v := vmtest.Start(t, qemu.Config{Disk: img, Vars: vars, MemoryMiB: 512, AllowReboot: true,
		GuestFwds: []string{guestFwd(t, srv.addr)}})
	boots := 1

	t0 := time.Now()
	i, _ := v.Expect(0, `imgbuild-sysinit: marked good loader/entries/imgbuild-a.conf`, 5*time.Minute)
	i, _ = v.Expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
	i, _ = v.Expect(i, `imgbuild-sysinit: reboot`, time.Minute)
	i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	boots++
	i, _ = v.Expect(i, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
	i, _ = v.Expect(i, `\[imgbuild-agent\] 2.0.0 is marked good \(updated from 1.0.0\)`, 2*time.Minute)
	t.Logf("update v1 -> v2 (beta): %.1fs from boot to marked good", time.Since(t0).Seconds())
	if got := v.Run("imgbuild-agent status", time.Minute); !strings.Contains(got, "slot B, 2.0.0 (marked good)") ||
		!strings.Contains(got, "slot A, 1.0.0, good") {
		t.Errorf("status on v2: %s", got)
	}
	if got := v.Run("cat /proc/cmdline", time.Minute); !slices.Contains(strings.Fields(got), v2KernelArg) {
		t.Errorf("v2 runs with /proc/cmdline %q: without v2's %s", got, v2KernelArg)
	}
	want := "13/1 14/1 3/1 3/2<1.0.0"
	if m, got := waitEvents(t, srv.addr, want); got != want || m.Version != "2.0.0" || m.Channel != "beta" || len(m.ID) != 32 {
		t.Errorf("after v2: events %q (want %q), machine %s on %q %s", got, want, m.ID, m.Channel, m.Version)
	}

	u.release(t, root, "alpha", u.v3)
	u.promote(t, root, "3.0.0", "alpha", "beta")
	t1 := time.Now()
	i, _ = v.Expect(i, `\[imgbuild-agent\] installed 3.0.0 into slot a`, 3*time.Minute)
	for try := 1; try <= 3; try++ {
		i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot a\)`, 3*time.Minute)
		i, _ = v.Expect(i, `imgbuild-sysinit: TRIAL FAILED`, 3*time.Minute)
		boots++
	}
	i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	boots++
	i, _ = v.Expect(i, `\[imgbuild-agent\] ROLLBACK: rolled back from 3.0.0 to slot B: services not healthy`, 2*time.Minute)
	t.Logf("rollback v3 -> v2: %.1fs from publishing v3 to the report", time.Since(t1).Seconds())
	// The failed trial boot's own lines outlive the rollback: read on
	// the old slot from the journal on ROOT.
	if got := v.Run("imgbuild-logs -boot -1 -service sysinit", time.Minute); !regexp.MustCompile(`\[sysinit\] started \S+ 3\.0\.0 `).MatchString(got) ||
		!strings.Contains(got, "TRIAL FAILED: services not healthy") {
		t.Errorf("imgbuild-logs -boot -1 on slot B after the rollback:\n%s", got)
	}
	// serve paused 3.0.0's rollout on that report (--pause-after 1, the
	// default); an operator resuming it must still not get it installed
	// again: the machine's own denylist refuses it.
	rollouts := "http://" + srv.addr
	waitRollout(t, rollouts, "beta", "3.0.0", "auto-paused: 1 machine(s) rolled back 3.0.0")
	if code, out := imgbuildOut(t, "rollout", "resume", "--server", rollouts, "--channel", "beta"); code != cli.ExitOK {
		t.Fatalf("rollout resume: exit %d: %s", code, out)
	}
	i, _ = v.Expect(i, `\[imgbuild-agent\] REFUSED 3.0.0: .*denylist`, time.Minute)
	want += " 13/1 14/1 3/1 3/0:44 3/0:17"
	m, got := waitEvents(t, srv.addr, want)
	if !strings.HasPrefix(got, want) {
		t.Errorf("events %q, want them to start with %q", got, want)
	}
	if e := rollbackEvent(m, 0); e == nil || e.Version != "2.0.0" || !strings.Contains(e.Reason, "services not healthy") ||
		!strings.Contains(e.Reason, "127.0.0.1:8089") {
		t.Errorf("v3's rollback as the server recorded it: %+v; want code 44 and the failed probe (port 8089)", e)
	}

	u.release(t, root, "alpha", u.v3b)
	u.promote(t, root, "3.0.1", "alpha", "beta")
	t2 := time.Now()
	i, _ = v.Expect(i, `\[imgbuild-agent\] installed 3.0.1 into slot a`, 3*time.Minute)
	for try := 1; try <= 3; try++ {
		i, _ = v.ExpectWith(i, `imgbuild-stage1: FATAL: verify USR: `, panicPattern, 3*time.Minute)
		i, _ = v.ExpectWith(i, `imgbuild-stage1: trial boot failed: rebooting`, panicPattern, time.Minute)
		boots++
	}
	i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	boots++
	i, _ = v.Expect(i, `\[imgbuild-agent\] ROLLBACK: rolled back from 3.0.1 to slot B: its trial boots failed before sysinit`, 2*time.Minute)
	t.Logf("rollback v3b -> v2: %.1fs from publishing v3b to the report", time.Since(t2).Seconds())
	waitRollout(t, rollouts, "beta", "3.0.1", "auto-paused: 1 machine(s) rolled back 3.0.1")
	if code, out := imgbuildOut(t, "rollout", "resume", "--server", rollouts, "--channel", "beta"); code != cli.ExitOK {
		t.Fatalf("rollout resume: exit %d: %s", code, out)
	}
	v.Expect(i, `\[imgbuild-agent\] REFUSED 3.0.1: .*denylist`, time.Minute)
	want += " 13/1 14/1 3/1 3/0:44 3/0:17"
	m, got = waitEvents(t, srv.addr, want)
	if !strings.HasPrefix(got, want) {
		t.Errorf("events %q, want them to start with %q", got, want)
	}
	if e := rollbackEvent(m, 1); e == nil || !strings.Contains(e.Reason, "3.0.1") || !strings.Contains(e.Reason, "stage-1") {
		t.Errorf("v3b's rollback as the server recorded it: %+v", e)
	}
	for n := 0; n < 2; n++ {
		if e := rollbackEvent(m, n); e != nil {
			t.Logf("rollback %d as the server recorded it: %s", n+1, e.Reason)
		}
	}
	if m.Version != "2.0.0" || m.LastError == nil || m.LastError.ErrorCode != contract.ErrDenied {
		t.Errorf("machine after both rollbacks: version %s, last error %+v", m.Version, m.LastError)
	}
	got = v.Run("/usr/lib/imgbuild/imgbuild-agent status --json | grep -c -e '\"3.0.0\"' -e '\"3.0.1\"'", time.Minute)
	if got == "0" {
		t.Errorf("3.0.0 and 3.0.1 not on the denylist in the status")
	}
	code, status := imgbuildOut(t, "serve", "--repo", root, "--status")
	if code != cli.ExitOK || !strings.Contains(status, m.ID) || !strings.Contains(status, "2.0.0") || !strings.Contains(status, "beta") {
		t.Errorf("imgbuild serve --status: exit %d\n%s", code, status)
	}
	t.Logf("imgbuild serve --status:\n%s", status)
	v.Powerdown()
	t.Logf("%d boots in %.1fs", boots, time.Since(t0).Seconds())
	// Every boot that reached sysinit is in the journal, in order: v3b's
	// trial boots failed in stage-1, before there was a journal to write.
	code, list := imgbuildOut(t, "logs", "--list-boots", img)
	versions := regexp.MustCompile(`(?m)^-?\d+\s+\S+\s+(\S+)\s`).FindAllStringSubmatch(list, -1)
	var seq []string
	for _, v := range versions {
		seq = append(seq, v[1])
	}
	if want := "1.0.0 2.0.0 3.0.0 3.0.0 3.0.0 2.0.0 2.0.0"; code != cli.ExitOK || strings.Join(seq, " ") != want {
		t.Errorf("imgbuild logs --list-boots: exit %d, versions %q, want %q\n%s", code, strings.Join(seq, " "), want, list)
	}

	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].File != "imgbuild-b.conf" {
		t.Errorf("entries after the rollbacks = %+v, want only imgbuild-b.conf", r.Entries)
	} else if want := builtOptions(t, u.v2, "b"); r.Entries[0].Options != want {
		t.Errorf("v2's entry as the update wrote it:\n%s\nas a build of v2 writes it for slot B:\n%s", r.Entries[0].Options, want)
	}
	if strings.Contains(builtOptions(t, u.v1, "a"), v2KernelArg) {
		t.Errorf("v1's entry has v2's %s", v2KernelArg)
	}
	// The machine on beta installed exactly alpha's bytes.
	if got := usrSHA256(t, img, "b", alphaUSR.Size); got != alphaUSR.SHA256 {
		t.Errorf("USR-B sha256 %s, want alpha's usr object %s", got, alphaUSR.SHA256)
	}
	if v3b := channelFile(t, root, "beta", repo.KindUSR, u.key.pub); usrSHA256(t, img, "a", v3b.Size) != v3b.SHA256 {
		t.Errorf("USR-A does not hold the 3.0.1 usr object beta offers")
	}
	t.Logf("server requests: %d", len(srv.requests()))
}

// builtOptions is the options line a build writes for slot: its image's
// slot A entry with the keys that name the slot swapped.
func builtOptions(t *testing.T, res *output.Result, slot string) string {
	t.Helper()
	r, err := inspect.Image(artifact(t, res, "disk"))
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("built image's entries %+v, %v", r, err)
	}
	usrA := disk.PartitionGUID("minimal", contract.USRA)
	usr, _ := contract.USR(slot)
	return strings.NewReplacer(contract.KeySlot+"=a", contract.KeySlot+"="+slot,
		contract.KeyUSR+"=PARTUUID="+usrA, contract.KeyUSR+"=PARTUUID="+disk.PartitionGUID("minimal", usr)).Replace(r.Entries[0].Options)
}

// panicPattern is what still fails a boot that is expected to fail in
// stage-1 (ExpectWith it: the FATAL line is what is waited for, not a
// test failure).
var panicPattern = regexp.MustCompile(`Kernel panic|Access Denied`)

// rollbackEvent is a machine's n-th 3/0:44 event.
func rollbackEvent(m server.Machine, n int) *server.Event {
	for _, e := range m.Events {
		if e.Type == 3 && e.Result == 0 && e.ErrorCode == contract.ErrRollback {
			if n == 0 {
				return &e
			}
			n--
		}
	}
	return nil
}

func mustPublic(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	k, err := sign.LoadPublic(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// v1OfferedV2 is a VM of a copy of v1's disk whose agent is offered v2
// on channel stable by a static repository.
func v1OfferedV2(t *testing.T) qemu.Config {
	t.Helper()
	u := buildUpdateImages(t, updateSpec{server: staticServer, channel: "stable"})
	root := t.TempDir()
	u.publish(t, root, "stable", u.v2)
	srv := serveRepo(t, root)
	return qemu.Config{Disk: diskCopy(t, u.v1), Vars: filepath.Join(t.TempDir(), "vars.fd"), MemoryMiB: 512,
		AllowReboot: true, GuestFwds: []string{guestFwd(t, srv.addr)}}
}

// TestUpdatePowerCut kills QEMU while the agent writes v2 into USR-B.
// The next boot must still be v1 from slot A, and the agent's next
// attempt must install v2, which then boots and is marked good.
func TestUpdatePowerCut(t *testing.T) {
	skipShort(t)
	cfg := v1OfferedV2(t)
	img := cfg.Disk
	v := vmtest.Start(t, cfg)
	// USR is a few MiB and the write takes well under a second, so cut
	// at its first progress line; where the cut lands is reported.
	v.Expect(0, `\[imgbuild-agent\] writing 2.0.0 to USR-B: 0%`, 8*time.Minute)
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
	v = vmtest.Start(t, cfg)
	if newEntry == "" {
		// Cut before the entry: the old slot boots, and the next
		// attempt writes the slot again and succeeds.
		t.Log("power cut before USR-B's entry was written")
		i, _ := v.Expect(0, `imgbuild-stage1: switching to USR \(slot a\)`, 3*time.Minute)
		i, _ = v.Expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
		v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	} else {
		// Cut after the entry, the last write that matters: the slot
		// is complete and boots.
		t.Logf("power cut after USR-B's entry %s was written", newEntry)
		v.Expect(0, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	}
	v.Expect(0, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
}
