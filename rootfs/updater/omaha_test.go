package updater

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/updater/omahatest"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// omahaOffering is a machine on 1.0.0 and an Omaha server offering
// 2.0.0 on stable.
func omahaOffering(t *testing.T) (*machine, *omahatest.Server) {
	t.Helper()
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	ch, err := repo.ReadChannel(repo.Dir(m.repo), "stable", m.a.Keys)
	if err != nil {
		t.Fatal(err)
	}
	s := &omahatest.Server{Repo: m.repo}
	s.Offer(ch)
	return m, s
}

func TestOmahaUpdateAndEvents(t *testing.T) {
	m, s := omahaOffering(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	server := srv.URL + "/v1/update/"
	if !IsOmaha(server) || IsOmaha(srv.URL+"/repo/") {
		t.Fatal("IsOmaha does not tell the endpoint from a repository")
	}
	installed, err := m.a.CheckOmaha(context.Background(), server, "stable")
	if err != nil || !installed {
		t.Fatalf("CheckOmaha = %v, %v", installed, err)
	}
	app := s.Apps()[0]
	id, _ := os.ReadFile(m.a.MachineID)
	if app.ID != contract.OmahaAppID(testName) || app.Version != "1.0.0" || app.Track != "stable" || app.Board != "amd64-usr" ||
		app.MachineID != strings.TrimSpace(string(id)) || len(app.MachineID) != 32 || app.UpdateCheck == nil || app.Ping == nil {
		t.Errorf("update check app = %+v", app)
	}
	// Boot B, mark it good; the agent there reports 3/2 with the version
	// it came from, and the server then has nothing newer.
	must(t, os.Rename(filepath.Join(m.a.ESP, contract.EntryPath("b", 3)), filepath.Join(m.a.ESP, contract.EntryPath("b", -1))))
	m.a.Slot = "b"
	if installed, err := m.a.CheckOmaha(context.Background(), server, "stable"); err != nil || installed {
		t.Fatalf("check on v2 = %v, %v", installed, err)
	}
	if got, want := strings.Join(s.Events(), " "), "13/1 14/1 3/1 3/2<1.0.0"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if last := s.Apps()[len(s.Apps())-1]; last.Version != "2.0.0" || last.MachineID != app.MachineID {
		t.Errorf("last request app = %+v", last)
	}
}

func TestOmahaRefusalReportsErrorCode(t *testing.T) {
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	r := newRelease("2.0.0", 1<<20)
	r.rec.Arch = "arm64"
	m.publish(r, "stable", m.priv)
	ch, _ := repo.ReadChannel(repo.Dir(m.repo), "stable", m.a.Keys)
	s := &omahatest.Server{Repo: m.repo}
	s.Offer(ch)
	srv := httptest.NewServer(s)
	defer srv.Close()
	before := m.passiveHash()
	if _, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable"); Code(err, 0) != contract.ErrArch {
		t.Fatalf("err = %v, want a refusal with code %d", err, contract.ErrArch)
	}
	if got := strings.Join(s.Events(), " "); got != fmt.Sprintf("3/0:%d", contract.ErrArch) {
		t.Errorf("events %q", got)
	}
	if m.passiveHash() != before {
		t.Error("the passive partition changed")
	}
}

func TestOmahaUnknownPackageRefused(t *testing.T) {
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	ch, _ := repo.ReadChannel(repo.Dir(m.repo), "stable", m.a.Keys)
	x := filepath.Join(t.TempDir(), "x")
	os.WriteFile(x, []byte("not in the record"), 0o644)
	f, err := repo.AddFile(m.repo, repo.KindKernel, x)
	must(t, err)
	for i := range ch.Files {
		if ch.Files[i].Kind == repo.KindKernel {
			ch.Files[i] = f
		}
	}
	s := &omahatest.Server{Repo: m.repo}
	s.Offer(ch)
	srv := httptest.NewServer(s)
	defer srv.Close()
	if _, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable"); Code(err, 0) != contract.ErrUnknownPayload {
		t.Fatalf("err = %v, want code %d", err, contract.ErrUnknownPayload)
	}
}

// TestOmahaReasonReachesServe runs a refusal against imgbuild serve's
// own handler: the error event arrives with its code and, in the
// extension attribute, the refusal's words.
func TestOmahaReasonReachesServe(t *testing.T) {
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	r := newRelease("2.0.0", 1<<20)
	r.rec.Arch = "arm64"
	m.publish(r, "stable", m.priv)
	s, err := server.New(m.repo, server.Options{Keys: m.a.Keys})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	if _, err := m.a.CheckOmaha(context.Background(), srv.URL+server.OmahaPath, "stable"); Code(err, 0) != contract.ErrArch {
		t.Fatalf("err = %v, want a refusal with code %d", err, contract.ErrArch)
	}
	list, err := server.ReadMachines(server.MachinesFile(m.repo))
	if err != nil || len(list) != 1 {
		t.Fatalf("machines: %d, %v", len(list), err)
	}
	e := list[0].LastError
	if e == nil || e.ErrorCode != contract.ErrArch || !strings.Contains(e.Reason, "arm64") {
		t.Fatalf("last error %+v, want code %d and the refusal's words", e, contract.ErrArch)
	}
	t.Logf("recorded: %d %s", e.ErrorCode, e.Reason)
}
