package updater

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/update/repo"
)

func (m *machine) attrs() map[string]uint64 {
	m.t.Helper()
	out := map[string]uint64{}
	for _, s := range contract.Slots {
		e, _, err := m.a.partition(s)
		if err != nil {
			m.t.Fatal(err)
		}
		out[s] = e.Attributes
	}
	return out
}

func TestInstallStaticThenMarkedGood(t *testing.T) {
	m := newMachine(t)
	m.a.BootID = "boot-1"
	rec := &recorder{}
	m.a.Reporter = rec
	v2 := newRelease("2.0.0", 3<<20)
	m.publish(v2, "stable", m.priv)
	installed, err := m.a.CheckStatic(context.Background(), m.src, "stable")
	if err != nil || !installed {
		t.Fatalf("CheckStatic = %v, %v", installed, err)
	}
	// The passive partition starts with exactly the USR payload.
	e, _, _ := m.a.partition("b")
	off, _ := m.a.partitionBytes(e)
	f, _ := os.Open(m.a.Disk)
	got := make([]byte, len(v2.files[repo.KindUSR]))
	f.ReadAt(got, off)
	f.Close()
	if sum(got) != v2.rec.USR {
		t.Error("USR-B does not hold the payload")
	}
	for kind, p := range map[string]string{repo.KindKernel: contract.KernelPath("b"), repo.KindInitramfs: contract.InitrdPath("b")} {
		data, err := os.ReadFile(filepath.Join(m.a.ESP, p))
		if err != nil || sum(data) != sum(v2.files[kind]) {
			t.Errorf("%s: %v or wrong content", p, err)
		}
	}
	entry, err := os.ReadFile(filepath.Join(m.a.ESP, contract.EntryPath("b", contract.DefaultTries)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(entry), "imgbuild.slot=b") || !strings.Contains(string(entry), "version 2.0.0") {
		t.Errorf("entry:\n%s", entry)
	}
	if a := m.attrs(); a["b"] != contract.USRAttributes(2, 3, false) || a["a"] != contract.USRAttributes(1, 0, true) {
		t.Errorf("GPT attributes after install: a %#x b %#x", a["a"], a["b"])
	}
	if got := rec.codes(); got != "13/1 14/1 3/1" {
		t.Errorf("events %q, want 13/1 14/1 3/1", got)
	}
	// A second check in the same boot (an agent restarted before its
	// reboot) writes nothing and says the reboot is still due.
	if again, err := m.a.CheckStatic(context.Background(), m.src, "stable"); err != nil || !again {
		t.Errorf("second check in the boot that installed = %v, %v; want the reboot due", again, err)
	}
	if got := rec.codes(); got != "13/1 14/1 3/1" {
		t.Errorf("events after the second check %q, want 13/1 14/1 3/1", got)
	}
	// A boot that came back to A with B still waiting does nothing: a
	// second reboot would loop.
	m.a.BootID = "boot-2"
	if again, err := m.a.CheckStatic(context.Background(), m.src, "stable"); err != nil || again {
		t.Errorf("check in a later boot on A = %v, %v; want nothing due", again, err)
	}
	// Reboot into B, sysinit marks it good; the agent there reports 3/2.
	must(t, os.Rename(filepath.Join(m.a.ESP, contract.EntryPath("b", 3)), filepath.Join(m.a.ESP, contract.EntryPath("b", -1))))
	m.a.Slot = "b"
	rec.events = nil
	if err := m.a.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0].Type != 3 || rec.events[0].Result != 2 || rec.events[0].Previous != "1.0.0" {
		t.Errorf("events after the good boot: %+v", rec.events)
	}
	if a := m.attrs(); a["b"] != contract.USRAttributes(2, 0, true) || a["a"] != contract.USRAttributes(1, 0, true) {
		t.Errorf("GPT attributes after the good boot: a %#x b %#x", a["a"], a["b"])
	}
	st, err := m.a.Status("http://x/", "stable")
	if err != nil || st.Version != "2.0.0" || st.Other.Version != "1.0.0" || st.Other.State != "good" || st.TriesLeft != -1 {
		t.Errorf("status %+v, %v", st, err)
	}
	t.Log("\n" + st.Text())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRefusalsLeavePassiveSlotUntouched(t *testing.T) {
	_, otherPriv := keyPair(t)
	tests := []struct {
		name  string
		code  int
		setup func(m *machine)
	}{
		{"record signed by an untrusted key", contract.ErrSignature, func(m *machine) {
			m.publish(newRelease("2.0.0", 1<<20), "stable", otherPriv)
		}},
		{"channel signed by an untrusted key", contract.ErrSignature, func(m *machine) {
			m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
			m.priv = otherPriv
			m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
		}},
		{"wrong sha256", contract.ErrSHA256, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			m.publish(r, "stable", m.priv)
			p := filepath.Join(m.repo, repo.ObjectPath(r.rec.USR))
			data, _ := os.ReadFile(p)
			data[100] ^= 0xff
			os.WriteFile(p, data, 0o644)
		}},
		{"wrong size", contract.ErrSize, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			m.publish(r, "stable", m.priv)
			p := filepath.Join(m.repo, repo.ObjectPath(r.rec.USR))
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("more"))
			f.Close()
		}},
		{"downgrade", contract.ErrNotNewer, func(m *machine) { m.publish(newRelease("0.9.0", 1<<20), "stable", m.priv) }},
		{"other name", contract.ErrName, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			r.rec.Name = "other"
			m.publish(r, "stable", m.priv)
		}},
		{"other arch", contract.ErrArch, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			r.rec.Arch = "arm64"
			m.publish(r, "stable", m.priv)
		}},
		{"denylisted", contract.ErrDenied, func(m *machine) {
			must(m.t, m.a.deny("2.0.0"))
			m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
		}},
		{"too big for the slot", contract.ErrTooBig, func(m *machine) { m.publish(newRelease("2.0.0", usrSize+4096), "stable", m.priv) }},
		{"min_version above running", contract.ErrMinVersion, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			r.rec.MinVersion = "1.5.0"
			m.publish(r, "stable", m.priv)
		}},
		{"pinned below", contract.ErrPinned, func(m *machine) {
			m.a.Pin = "1.5.0"
			m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
		}},
		{"kernel_args naming a slot", contract.ErrKernelArgs, func(m *machine) {
			r := newRelease("2.0.0", 1<<20)
			r.rec.KernelArgs = []string{"quiet", "imgbuild.slot=a"}
			m.publish(r, "stable", m.priv)
		}},
		{"file the record does not vouch for", contract.ErrUnknownPayload, func(m *machine) {
			x := filepath.Join(m.t.TempDir(), "x")
			os.WriteFile(x, []byte("extra"), 0o644)
			f, err := repo.AddFile(m.repo, "extra", x)
			must(m.t, err)
			m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv, f)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t)
			rec := &recorder{}
			m.a.Reporter = rec
			tt.setup(m)
			before, esp := m.passiveHash(), m.espSnapshot()
			_, err := m.a.CheckStatic(context.Background(), m.src, "stable")
			var r *Refusal
			if !errors.As(err, &r) || r.Code != tt.code {
				t.Fatalf("err = %v, want a refusal with code %d", err, tt.code)
			}
			t.Logf("refused: %v", err)
			if after := m.passiveHash(); after != before {
				t.Error("the passive partition changed")
			}
			if after := m.espSnapshot(); len(after) != len(esp) {
				t.Errorf("the ESP changed: %v -> %v", esp, after)
			} else {
				for k, v := range esp {
					if after[k] != v {
						t.Errorf("the ESP's %s changed", k)
					}
				}
			}
			st, _ := m.a.Status("x", "stable")
			if st.LastErrorCode != tt.code || !strings.Contains(st.Why, "failed") {
				t.Errorf("status: code %d, why %q", st.LastErrorCode, st.Why)
			}
			if n := len(rec.events); n == 0 || rec.events[n-1].Type != 3 || rec.events[n-1].Result != 0 || rec.events[n-1].ErrorCode != tt.code {
				t.Errorf("events %s: want a last 3/0 with code %d", rec.codes(), tt.code)
			}
		})
	}
}

// TestOtherArchNamed checks that an amd64 machine's refusal of an arm64
// release names both arches, which is all an operator has to go on.
func TestOtherArchNamed(t *testing.T) {
	m := newMachine(t)
	r := newRelease("2.0.0", 1<<20)
	r.rec.Arch = "arm64"
	m.publish(r, "stable", m.priv)
	_, err := m.a.CheckStatic(context.Background(), m.src, "stable")
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Code != contract.ErrArch {
		t.Fatalf("err = %v, want a refusal with code %d", err, contract.ErrArch)
	}
	if want := "release 2.0.0 is for arm64, this machine is amd64"; !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q does not say %q", err, want)
	}
}

func TestCrashAfterEveryStep(t *testing.T) {
	for _, crashAt := range Steps {
		t.Run(crashAt, func(t *testing.T) {
			m := newMachine(t)
			v2 := newRelease("2.0.0", 3<<20)
			m.publish(v2, "stable", m.priv)
			bootedBefore := m.espSnapshot()
			m.a.crash = func(step string) bool { return step == crashAt }
			if _, err := m.a.CheckStatic(context.Background(), m.src, "stable"); !errors.Is(err, errCrashed) {
				t.Fatalf("err = %v, want the simulated power cut", err)
			}
			// The booted slot is as it was: its entry first among
			// bootable ones, its files unchanged.
			after := m.espSnapshot()
			for k, v := range bootedBefore {
				if strings.Contains(k, "/a/") || strings.Contains(k, "imgbuild-a") || strings.HasSuffix(k, "loader.conf") {
					if after[k] != v {
						t.Errorf("booted slot's %s changed", k)
					}
				}
			}
			// Slot B has no entry or a complete one.
			es, _ := slotEntries(m.a.ESP, "b")
			if len(es) > 0 {
				for _, p := range []string{contract.KernelPath("b"), contract.InitrdPath("b"), contract.RecordPath("b"), contract.SigPath("b")} {
					if _, err := os.Stat(filepath.Join(m.a.ESP, p)); err != nil {
						t.Errorf("slot B has an entry but lacks %s", p)
					}
				}
			}
			m.a.crash = nil
			// The partition table is valid whatever happened.
			f, _ := os.Open(m.a.Disk)
			if _, err := gpt.Read(f, 512); err != nil {
				t.Error(err)
			}
			f.Close()
			installed, err := m.a.CheckStatic(context.Background(), m.src, "stable")
			if err != nil {
				t.Fatalf("next attempt: %v", err)
			}
			st, _ := m.a.Status("x", "stable")
			if st.Other.State != "trial" || st.Other.Version != "2.0.0" {
				t.Errorf("after the next attempt (installed %v): %+v", installed, st.Other)
			}
		})
	}
}

func TestRollbackIsReportedAndDenied(t *testing.T) {
	m := newMachine(t)
	rec := &recorder{}
	m.a.Reporter = rec
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	if _, err := m.a.CheckStatic(context.Background(), m.src, "stable"); err != nil {
		t.Fatal(err)
	}
	// Three trial boots of B failed; systemd-boot is back on A.
	esp := filepath.Join(m.a.ESP, contract.EntriesDir)
	must(t, os.Rename(filepath.Join(esp, "imgbuild-b+3.conf"), filepath.Join(esp, "imgbuild-b+0-3.conf")))
	writeFile(t, m.a.TrialFailure, []byte(`{"version":"2.0.0","slot":"b","reason":"services not healthy within 20s","probe":"web health check failing: tcp 8080 refused"}`))
	st, _ := m.a.Status("x", "stable")
	if st.Other.State != "dead" {
		t.Errorf("other slot state %q, want dead", st.Other.State)
	}
	rec.events = nil
	installed, err := m.a.CheckStatic(context.Background(), m.src, "stable")
	var r *Refusal
	if installed || !errors.As(err, &r) || r.Code != contract.ErrDenied {
		t.Fatalf("check after rollback = %v, %v; want refused as denied", installed, err)
	}
	if len(rec.events) == 0 || rec.events[0].ErrorCode != contract.ErrRollback || !strings.Contains(rec.events[0].Reason, "tcp 8080 refused") {
		t.Errorf("events %+v: want 3/0 code 44 with the reason first", rec.events)
	}
	if es, _ := slotEntries(m.a.ESP, "b"); len(es) != 0 {
		t.Errorf("dead entry left: %v", es)
	}
	if d, _ := m.a.Denylist(); len(d) != 1 || d[0] != "2.0.0" {
		t.Errorf("denylist %v", d)
	}
	if _, err := os.Stat(m.a.TrialFailure); err == nil {
		t.Error("trial failure not cleared")
	}
	// Offered again: refused quietly, without a new event.
	rec.events = nil
	if installed, err := m.a.CheckStatic(context.Background(), m.src, "stable"); installed || err != nil || len(rec.events) != 0 {
		t.Errorf("third check = %v, %v, events %+v; want a quiet no", installed, err, rec.events)
	}
	if st, _ := m.a.Status("x", "stable"); st.LastErrorCode != contract.ErrDenied {
		t.Errorf("status after the quiet refusal: %+v", st)
	}
	if a := m.attrs(); a["b"] != 0 || a["a"] != contract.USRAttributes(2, 0, true) {
		t.Errorf("GPT attributes after rollback: a %#x b %#x", a["a"], a["b"])
	}
}

func TestTrialBootWaits(t *testing.T) {
	m := newMachine(t)
	esp := filepath.Join(m.a.ESP, contract.EntriesDir)
	must(t, os.Rename(filepath.Join(esp, "imgbuild-a.conf"), filepath.Join(esp, "imgbuild-a+2-1.conf")))
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	if _, err := m.a.CheckStatic(context.Background(), m.src, "stable"); !errors.Is(err, ErrTrial) {
		t.Errorf("check during a trial boot: %v, want ErrTrial", err)
	}
	st, _ := m.a.Status("x", "stable")
	if st.TriesLeft != 2 || !strings.Contains(st.Why, "trial") {
		t.Errorf("status %+v", st)
	}
}

// flaky fails every report while down.
type flaky struct {
	recorder
	down bool
}

func (f *flaky) Report(ctx context.Context, e Event) error {
	if f.down {
		return errors.New("connection refused")
	}
	return f.recorder.Report(ctx, e)
}

// An update's outcome the server did not take is sent at a later check,
// once: the server's rollouts pause on the rollbacks it hears of.
func TestOutcomeSentWhenServerBack(t *testing.T) {
	m := newMachine(t)
	rep := &flaky{}
	m.a.Reporter = rep
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	if installed, err := m.a.CheckStatic(context.Background(), m.src, "stable"); err != nil || !installed {
		t.Fatalf("CheckStatic = %v, %v", installed, err)
	}
	must(t, os.Rename(filepath.Join(m.a.ESP, contract.EntryPath("b", 3)), filepath.Join(m.a.ESP, contract.EntryPath("b", -1))))
	m.a.Slot = "b"
	rep.down, rep.events = true, nil
	for range 2 {
		if err := m.a.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.a.loadState()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unsent) != 1 || st.Unsent[0].Result != ResultSuccessReboot || st.Unsent[0].Previous != "1.0.0" {
		t.Fatalf("unsent with the server down: %+v; want the one 3/2 from 1.0.0", st.Unsent)
	}
	rep.down = false
	for range 2 {
		if err := m.a.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := rep.codes(); got != "3/2" || rep.events[0].Previous != "1.0.0" {
		t.Errorf("events once the server is back: %q %+v, want one 3/2 from 1.0.0", got, rep.events)
	}
	if st, _ := m.a.loadState(); len(st.Unsent) != 0 {
		t.Errorf("unsent after delivery: %+v", st.Unsent)
	}
}
