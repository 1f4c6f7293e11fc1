package agent

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flatcar/go-omaha/omaha"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/update/repo"
)

// omahaServer answers update checks in Flatcar's dialect from a
// repository's channel, serves the repository under /repo/ and records
// the requests it got.
type omahaServer struct {
	t       *testing.T
	repo    string
	channel *repo.Channel
	mu      sync.Mutex
	apps    []*omaha.AppRequest
	events  []string
}

func (s *omahaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/repo/") {
		http.StripPrefix("/repo/", http.FileServer(http.Dir(s.repo))).ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req omaha.Request
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Apps) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	app := req.Apps[0]
	s.mu.Lock()
	s.apps = append(s.apps, app)
	for _, e := range app.Events {
		ev := fmt.Sprintf("%d/%d", e.Type, e.Result)
		if e.ErrorCode != 0 {
			ev += fmt.Sprintf(":%d", e.ErrorCode)
		}
		if e.PreviousVersion != "" {
			ev += "<" + e.PreviousVersion
		}
		s.events = append(s.events, ev)
	}
	s.mu.Unlock()
	resp := omaha.NewResponse()
	ar := resp.AddApp(app.ID, omaha.AppOK)
	if app.Ping != nil {
		ar.AddPing()
	}
	for range app.Events {
		ar.AddEvent()
	}
	if app.UpdateCheck != nil {
		if s.channel == nil || s.channel.Version == app.Version {
			ar.AddUpdateCheck(omaha.NoUpdate)
		} else {
			uc := ar.AddUpdateCheck(omaha.UpdateOK)
			uc.AddURL("http://" + r.Host + "/repo/")
			m := uc.AddManifest(s.channel.Version)
			for _, kind := range []string{repo.KindRecord, repo.KindSignature, repo.KindUSR, repo.KindKernel, repo.KindInitramfs} {
				f, _ := s.channel.File(kind)
				p := m.AddPackage()
				p.Name, p.SHA256, p.Size, p.Required = f.Path, f.SHA256, uint64(f.Size), true
			}
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	xml.NewEncoder(w).Encode(resp)
}

func TestOmahaUpdateAndEvents(t *testing.T) {
	m := newMachine(t)
	m.a.MachineID = filepath.Join(m.a.StateDir, "machine-id")
	m.publish(newRelease("2.0.0", 1<<20), "stable", m.priv)
	ch, err := repo.ReadChannel(repo.Dir(m.repo), "stable", m.a.Keys)
	if err != nil {
		t.Fatal(err)
	}
	s := &omahaServer{t: t, repo: m.repo, channel: ch}
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
	app := s.apps[0]
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
	if got, want := strings.Join(s.events, " "), "13/1 14/1 3/1 3/2<1.0.0"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if last := s.apps[len(s.apps)-1]; last.Version != "2.0.0" || last.MachineID != app.MachineID {
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
	s := &omahaServer{t: t, repo: m.repo, channel: ch}
	srv := httptest.NewServer(s)
	defer srv.Close()
	before := m.passiveHash()
	if _, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable"); Code(err, 0) != contract.ErrArch {
		t.Fatalf("err = %v, want a refusal with code %d", err, contract.ErrArch)
	}
	if got := strings.Join(s.events, " "); got != fmt.Sprintf("3/0:%d", contract.ErrArch) {
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
	s := &omahaServer{t: t, repo: m.repo, channel: ch}
	srv := httptest.NewServer(s)
	defer srv.Close()
	if _, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable"); Code(err, 0) != contract.ErrUnknownPayload {
		t.Fatalf("err = %v, want code %d", err, contract.ErrUnknownPayload)
	}
}
