package qemutests

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// TestUpdateSecureBoot: a Secure Boot image (keys enrolled by its first
// boot) updates from v1 to v2 through imgbuild serve. The release carries
// a signed UKI per slot; the agent writes slot B's UKI and a UKI entry,
// the firmware verifies that UKI (whose signed .cmdline names slot B) and
// v2 is marked good. imgbuild verify and inspect then read both slots of
// the disk.
func TestUpdateSecureBoot(t *testing.T) {
	skipShort(t)
	u := buildUpdateImages(t, updateSpec{server: omahaServer, channel: "stable", secureBoot: true})
	root := t.TempDir()
	u.release(t, root, "stable", u.v2)
	ukiB := channelFile(t, root, "stable", repo.KindUKI+"b", u.key.pub)
	channelFile(t, root, "stable", repo.KindUKI+"a", u.key.pub)
	h, err := server.New(root, server.Options{Keys: []ed25519.PublicKey{mustPublic(t, u.key.pub)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, root, h)
	img, vars := diskCopy(t, u.v1), copyVars(t, qemu.OVMFVars)

	v := vmtest.Start(t, qemu.Config{Disk: img, Code: ovmfSecbootCode, Vars: vars, SecureBoot: true, MemoryMiB: 1024})
	v.Expect(0, `Enrolling secure boot keys`, 90*time.Second)
	v.WaitExit(90 * time.Second)

	t0 := time.Now()
	v = vmtest.Start(t, qemu.Config{Disk: img, Code: ovmfSecbootCode, Vars: vars, SecureBoot: true, MemoryMiB: 1024,
		AllowReboot: true, GuestFwds: []string{guestFwd(t, srv.addr)}})
	i, _ := v.Expect(0, `imgbuild-stage1: Secure Boot enabled`, 3*time.Minute)
	i, _ = v.Expect(i, `imgbuild-sysinit: marked good loader/entries/imgbuild-a.conf`, 5*time.Minute)
	i, _ = v.Expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
	i, _ = v.Expect(i, `imgbuild-stage1: Secure Boot enabled`, 3*time.Minute)
	i, _ = v.Expect(i, `imgbuild-stage1: switching to USR \(slot b\)`, 3*time.Minute)
	i, _ = v.Expect(i, `imgbuild-sysinit: marked good loader/entries/imgbuild-b.conf`, 3*time.Minute)
	v.Expect(i, `\[imgbuild-agent\] 2.0.0 is marked good \(updated from 1.0.0\)`, 2*time.Minute)
	t.Logf("Secure Boot update v1 -> v2: %.1fs from boot to marked good (3 boots with enrollment)", time.Since(t0).Seconds())
	want := "13/1 14/1 3/1 3/2<1.0.0"
	if _, got := waitEvents(t, srv.addr, want); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	v.Powerdown()

	files, err := esp.ReadFiles(img, contract.ESP.Number)
	if err != nil {
		t.Fatal(err)
	}
	entry := string(files[contract.EntriesDir+"/imgbuild-b.conf"])
	if !strings.Contains(entry, "efi     /"+contract.UKIPath("b")) || strings.Contains(entry, "\nlinux") {
		t.Errorf("slot B's entry is not a UKI entry:\n%s", entry)
	}
	if got := sha256Hex(files[contract.UKIPath("b")]); got != ukiB.SHA256 {
		t.Errorf("%s sha256 %s, want the released uki-b %s", contract.UKIPath("b"), got, ukiB.SHA256)
	}
	code, out := imgbuildOut(t, "verify", img, "--pub", u.key.pub)
	if code != cli.ExitOK || !strings.Contains(out, "slot A: release 1.0.0") || !strings.Contains(out, "slot B: release 2.0.0") ||
		!strings.Contains(out, "ok      dm-verity tree of USR-B") || !strings.Contains(out, "UKI .initrd sha256 ("+contract.UKIPath("b")) {
		t.Errorf("imgbuild verify after the update: exit %d\n%s", code, out)
	}
	if code, out := imgbuildOut(t, "inspect", img); code != cli.ExitOK || !strings.Contains(out, "slot B: release 2.0.0") ||
		!strings.Contains(out, "efi /"+contract.UKIPath("b")) {
		t.Errorf("imgbuild inspect after the update: exit %d\n%s", code, out)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
