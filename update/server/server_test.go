package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flatcar/go-omaha/omaha"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// flatcarRequest is a request exactly as Flatcar's update_engine writes
// it (src/update_engine/omaha_request_action.cc, GetRequestXml and
// GetAppXml: attribute order, empty attributes, the space before '>',
// elements closed by end tags), with the app body as its argument.
const flatcarRequest = `<?xml version="1.0" encoding="UTF-8"?>
<request protocol="3.0" version="update_engine-0.4.10" updaterversion="update_engine-0.4.10" installsource="scheduler" ismachine="1">
    <os version="Chateau" platform="CoreOS" sp="%[2]s_x86_64"></os>
    <app appid="%[1]s" version="%[2]s" track="%[3]s" bootid="{2f7e3b4c-6a1d-4c2e-9f0a-5b8d7e6c1a90}" oem="" oemversion="" alephversion="1.0.0" machineid="%[4]s" machinealias="" lang="en-US" board="amd64-usr" hardware_class="" delta_okay="false" >
%[5]s    </app>
</request>
`

// Bodies of the app element update_engine sends (GetAppBody).
const (
	checkBody    = "        <ping active=\"1\"></ping>\n        <updatecheck></updatecheck>\n"
	rebootedBody = checkBody + "        <event eventtype=\"3\" eventresult=\"2\" previousversion=\"%s\"></event>\n"
	eventBody    = "        <event eventtype=\"%d\" eventresult=\"%d\"></event>\n"
	errorBody    = "        <event eventtype=\"3\" eventresult=\"0\" errorcode=\"%d\"></event>\n"
	// reasonBody is an error event as imgbuild-agent sends it, with its
	// reason in the extension attribute (escaped: quotes, a newline).
	reasonBody    = "        <event imgbuild_reason=\"services not healthy; last failing probe: &#34;http&#34;&#xA;refused\" eventtype=\"3\" eventresult=\"0\" errorcode=\"%d\"></event>\n"
	testMachineID = "8e1d0f3c2b4a49d6a7c5e3f1b2d4c6a8"
)

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pk, sk
}

// fakePayload writes a small signed release of image "minimal" with a
// UKI per slot and returns its files by kind.
func fakePayload(t testing.TB, ver string, key ed25519.PrivateKey) map[string]string {
	t.Helper()
	dir := t.TempDir()
	content := map[string]string{repo.KindKernel: "kernel", repo.KindInitramfs: "initrd " + ver, repo.KindUSR: "usr " + ver + strings.Repeat("x", 5000),
		repo.KindUKI + "a": "uki a " + ver, repo.KindUKI + "b": "uki b " + ver}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	rec := sign.Record{Format: sign.RecordFormat, Name: "minimal", Version: ver, Arch: "amd64",
		Kernel: sum(content[repo.KindKernel]), Initramfs: sum(content[repo.KindInitramfs]), USR: sum(content[repo.KindUSR]),
		USRSize: int64(len(content[repo.KindUSR])), UKI: map[string]string{"a": sum(content["uki-a"]), "b": sum(content["uki-b"])},
		VerityRoot: strings.Repeat("d", 64), VeritySalt: strings.Repeat("e", 64)}
	sig, err := sign.Sign(rec, key)
	if err != nil {
		t.Fatal(err)
	}
	content[repo.KindRecord], content[repo.KindSignature] = string(rec.Canonical()), string(sig)
	files := map[string]string{}
	for kind, data := range content {
		files[kind] = filepath.Join(dir, kind)
		if err := os.WriteFile(files[kind], []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

type fixture struct {
	root  string
	s     *Server
	srv   *httptest.Server
	appID string
	ch    *repo.Channel
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, priv := testKey(t)
	root := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		p, err := repo.AddPayload(root, fakePayload(t, v, priv))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Publish(root, "alpha", p, priv, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := repo.ReadChannel(repo.Dir(root), "alpha", []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(root, Options{Keys: []ed25519.PublicKey{pub}, Now: func() time.Time { return time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{root: root, s: s, srv: srv, appID: contract.OmahaAppID("minimal"), ch: ch}
}

// post sends an update_engine request and parses the answer with
// go-omaha's own types.
func (f *fixture) post(t *testing.T, appID, ver, track, body string) (int, *omaha.Response) {
	t.Helper()
	xmlReq := fmt.Sprintf(flatcarRequest, appID, ver, track, testMachineID, body)
	resp, err := http.Post(f.srv.URL+OmahaPath, "text/xml", strings.NewReader(xmlReq))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parsed, err := omaha.ParseResponse(resp.Header.Get("Content-Type"), resp.Body)
	if err != nil {
		t.Fatalf("the answer does not parse with go-omaha: %v", err)
	}
	return resp.StatusCode, parsed
}

func TestUpdateCheckOffersChannel(t *testing.T) {
	f := newFixture(t)
	code, resp := f.post(t, f.appID, "1.0.0", "alpha", checkBody)
	app := resp.GetApp(f.appID)
	if code != http.StatusOK || app == nil || app.Status != omaha.AppOK || app.UpdateCheck == nil || app.Ping == nil {
		t.Fatalf("HTTP %d, app %+v", code, app)
	}
	uc := app.UpdateCheck
	if uc.Status != omaha.UpdateOK || len(uc.URLs) != 1 || uc.URLs[0].CodeBase != f.srv.URL+"/" || len(uc.Manifests) != 1 {
		t.Fatalf("updatecheck %+v", uc)
	}
	m := uc.Manifests[0]
	if m.Version != "1.1.0" || m.Version != f.ch.Version {
		t.Errorf("manifest version %q, channel offers %q", m.Version, f.ch.Version)
	}
	kindOf := map[string]string{}
	for _, file := range f.ch.Files {
		kindOf[file.SHA256] = file.Kind
	}
	var kinds []string
	for _, p := range m.Packages {
		kinds = append(kinds, kindOf[p.SHA256])
		if !p.Required || p.Name != "objects/sha256/"+p.SHA256 {
			t.Errorf("package %+v: want required, named objects/sha256/<its sha256>", p)
		}
		// The repository object behind the package, fetched as a client
		// does (codebase + name), has the announced size and hash.
		r, err := http.Get(uc.URLs[0].CodeBase + p.Name)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if sum := sha256.Sum256(data); r.StatusCode != http.StatusOK || uint64(len(data)) != p.Size || hex.EncodeToString(sum[:]) != p.SHA256 {
			t.Errorf("package %s: HTTP %d, %d bytes sha256 %x; announced %d bytes %s", p.Name, r.StatusCode, len(data), sum, p.Size, p.SHA256)
		}
	}
	want := "record signature usr kernel initramfs uki-a uki-b"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("packages in order %q, want %q", got, want)
	}

	code, resp = f.post(t, f.appID, "1.1.0", "alpha", checkBody)
	if app := resp.GetApp(f.appID); code != http.StatusOK || app == nil || app.UpdateCheck == nil || app.UpdateCheck.Status != omaha.NoUpdate {
		t.Errorf("check from the channel's version: HTTP %d, %+v", code, app)
	}
	for _, tt := range []struct{ name, appID, track string }{
		{"other image", contract.OmahaAppID("etcd"), "alpha"},
		{"unknown track", f.appID, "nightly"},
		{"track leaving the repository", f.appID, "../alpha"},
	} {
		code, resp = f.post(t, tt.appID, "1.0.0", tt.track, checkBody)
		if app := resp.GetApp(tt.appID); code != http.StatusBadRequest || app == nil || app.Status != omaha.AppUnknownID || app.UpdateCheck != nil {
			t.Errorf("%s: HTTP %d, %+v", tt.name, code, app)
		}
	}
}

func TestUpdateCheckRefusesTamperedChannel(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.root, "channels", "alpha.json")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"1.1.0"`, `"9.0.0"`, 1)), 0o644)
	code, resp := f.post(t, f.appID, "1.0.0", "alpha", checkBody)
	if app := resp.GetApp(f.appID); code == http.StatusOK || app == nil || app.UpdateCheck != nil {
		t.Errorf("a channel whose signature fails was offered: HTTP %d, %+v", code, app)
	}
}

func TestEventsRecorded(t *testing.T) {
	f := newFixture(t)
	steps := []struct{ ver, body string }{
		{"1.0.0", checkBody},
		{"1.0.0", fmt.Sprintf(eventBody, 13, 1)},
		{"1.0.0", fmt.Sprintf(eventBody, 14, 1)},
		{"1.0.0", fmt.Sprintf(eventBody, 3, 1)},
		{"1.1.0", fmt.Sprintf(rebootedBody, "1.0.0")},
		{"1.1.0", fmt.Sprintf(reasonBody, contract.ErrRollback)},
	}
	for _, s := range steps {
		code, resp := f.post(t, f.appID, s.ver, "alpha", s.body)
		app := resp.GetApp(f.appID)
		if code != http.StatusOK || app == nil || len(app.Events) != strings.Count(s.body, "<event") {
			t.Fatalf("HTTP %d, app %+v", code, app)
		}
	}
	r, err := http.Get(f.srv.URL + MachinesPath)
	if err != nil {
		t.Fatal(err)
	}
	var list []Machine
	if err := json.NewDecoder(r.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	fromFile, err := ReadMachines(MachinesFile(f.root))
	if err != nil || len(fromFile) != 1 {
		t.Fatalf("machines file: %d machines, %v", len(fromFile), err)
	}
	if len(list) != 1 {
		t.Fatalf("%d machines, want 1", len(list))
	}
	for _, m := range []Machine{list[0], *fromFile[0]} {
		if m.ID != testMachineID || m.Version != "1.1.0" || m.Channel != "alpha" || m.AppID != f.appID || m.LastSeen.IsZero() || m.LastCheck.IsZero() {
			t.Errorf("machine %+v", m)
		}
		var got []string
		for _, e := range m.Events {
			got = append(got, fmt.Sprintf("%d/%d/%d/%s@%s", e.Type, e.Result, e.ErrorCode, e.PreviousVersion, e.Version))
		}
		want := "13/1/0/@1.0.0 14/1/0/@1.0.0 3/1/0/@1.0.0 3/2/0/1.0.0@1.1.0 3/0/44/@1.1.0"
		if strings.Join(got, " ") != want {
			t.Errorf("events %q, want %q", strings.Join(got, " "), want)
		}
		if m.LastEvent == nil || m.LastEvent.Type != 3 || m.LastEvent.Result != 0 || m.LastError == nil || m.LastError.ErrorCode != 44 ||
			!strings.Contains(m.LastError.Meaning, "rolled back") || m.LastError.Reason != "services not healthy; last failing probe: \"http\"\nrefused" {
			t.Errorf("last event %+v, last error %+v", m.LastEvent, m.LastError)
		}
	}
}

func TestServesFiles(t *testing.T) {
	f := newFixture(t)
	usr, _ := f.ch.File(repo.KindUSR)
	want, _ := os.ReadFile(filepath.Join(f.root, usr.Path))
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/"+usr.Path, nil)
	req.Header.Set("Range", "bytes=100-199")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusPartialContent || string(got) != string(want[100:200]) {
		t.Errorf("Range: HTTP %d, %d bytes", r.StatusCode, len(got))
	}
	r, err = http.Head(f.srv.URL + "/" + usr.Path)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.ContentLength != usr.Size || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: HTTP %d, length %d, want %d", r.StatusCode, r.ContentLength, usr.Size)
	}
	f.post(t, f.appID, "1.0.0", "alpha", checkBody) // writes .serve/machines.json
	for _, p := range []string{"/", "/objects/", "/.serve/machines.json", "/channels/.alpha.json.tmp", "/../etc/passwd"} {
		r, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", p, r.StatusCode)
		}
	}
	r, err = http.Post(f.srv.URL+"/channels/alpha.json", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a file: HTTP %d", r.StatusCode)
	}
}

// TestServesChunks: a release's chunks and index are served as files,
// cacheable for good like objects (their names fix their content).
func TestServesChunks(t *testing.T) {
	f := newFixture(t)
	_, priv := testKey(t)
	usr, _ := f.ch.File(repo.KindUSR)
	x, _, err := chunks.Store(f.root, filepath.Join(f.root, usr.Path), priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{chunks.IndexPath(usr.SHA256), chunks.IndexPath(usr.SHA256) + ".sig", chunks.ChunkPath(x.Chunks[0].SHA256)} {
		r, err := http.Get(f.srv.URL + "/" + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: HTTP %d, Cache-Control %q", p, r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
}
