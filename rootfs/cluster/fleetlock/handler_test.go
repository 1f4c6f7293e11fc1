package fleetlock

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// zincatiBody is the request body Zincati's FleetLock client sends, byte
// for byte: serde_json's pretty form of client_params {id, group}
// (src/fleet_lock/mod.rs), with no Content-Type header.
func zincatiBody(id, group string) string {
	return fmt.Sprintf("{\n  \"client_params\": {\n    \"id\": %q,\n    \"group\": %q\n  }\n}", id, group)
}

type server struct {
	*httptest.Server
	mu   sync.Mutex
	logs []string
}

func newServer(t *testing.T, sem *Semaphore) *server {
	s := &server{}
	h := NewHandler(sem, func(f string, a ...any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.logs = append(s.logs, fmt.Sprintf(f, a...))
	})
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// post sends a request as Zincati does and returns the status and the
// decoded error body (zero on 200).
func (s *server) post(t *testing.T, path, body string, header bool) (int, httpError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header {
		req.Header.Set("fleet-lock-protocol", "true")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e httpError
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &e); err != nil || e.Kind == "" || e.Value == "" {
			t.Fatalf("POST %s: %s with body %q: want a {kind, value} body", path, resp.Status, raw)
		}
	}
	return resp.StatusCode, e
}

func (s *server) status(t *testing.T, group string) Status {
	t.Helper()
	resp, err := http.Get(s.URL + "/v1/status?group=" + group)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %s, %v", resp.Status, err)
	}
	return st
}

func TestProtocol(t *testing.T) {
	sem, _ := newSem(t, nil)
	s := newServer(t, sem)
	// Zincati's ids are the machine's app-specific UUID in lower hex.
	const a, b = "e0f3745b108f471cbd4883c6fbed8cdd", "1b2c3d4e5f60718293a4b5c6d7e8f901"

	if code, _ := s.post(t, PathPreReboot, zincatiBody(a, "default"), true); code != http.StatusOK {
		t.Fatalf("pre-reboot a: %d", code)
	}
	if code, _ := s.post(t, PathPreReboot, zincatiBody(a, "default"), true); code != http.StatusOK {
		t.Fatalf("pre-reboot a again: %d, want 200 (recursive lock)", code)
	}
	code, e := s.post(t, PathPreReboot, zincatiBody(b, "default"), true)
	if code != http.StatusConflict || e.Kind != KindLock || !strings.Contains(e.Value, a) {
		t.Fatalf("pre-reboot b = %d %+v, want 409 failed_lock naming %s", code, e, a)
	}
	if st := s.status(t, "default"); st.Slots != 1 || !slices.Equal(st.Holders, []string{a}) || len(st.History) != 1 {
		t.Fatalf("status = %+v, want a holding 1 slot, one event", st)
	}
	// b never held it: steady-state is still 200.
	if code, _ := s.post(t, PathSteadyState, zincatiBody(b, "default"), true); code != http.StatusOK {
		t.Fatalf("steady-state b: %d", code)
	}
	if code, _ := s.post(t, PathSteadyState, zincatiBody(a, "default"), true); code != http.StatusOK {
		t.Fatalf("steady-state a: %d", code)
	}
	if code, _ := s.post(t, PathPreReboot, zincatiBody(b, "default"), true); code != http.StatusOK {
		t.Fatalf("pre-reboot b after a: %d", code)
	}
	st := s.status(t, "default")
	if !slices.Equal(st.Holders, []string{b}) || len(st.History) != 3 || st.History[2].ID != b {
		t.Fatalf("status = %+v, want b holding after grant a, release a, grant b", st)
	}
	s.mu.Lock()
	logs := strings.Join(s.logs, "\n")
	s.mu.Unlock()
	for _, want := range []string{"granted " + a, "refused " + b, "released " + a, "granted " + b} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestProtocolRefusals(t *testing.T) {
	sem, _ := newSem(t, nil)
	s := newServer(t, sem)
	for _, tt := range []struct {
		name, path, body string
		header           bool
		code             int
		kind, says       string
	}{
		{"no header", PathPreReboot, zincatiBody("a", "default"), false, 400, KindIdentity, "fleet-lock-protocol"},
		{"bad json", PathPreReboot, `{"client_params":`, true, 400, KindIdentity, "body"},
		{"trailing data", PathSteadyState, zincatiBody("a", "default") + "{}", true, 400, KindIdentity, "after"},
		{"no client_params", PathPreReboot, `{}`, true, 400, KindIdentity, "client_params missing"},
		{"empty id", PathPreReboot, zincatiBody("", "default"), true, 400, KindIdentity, "client_params.id"},
		{"empty group", PathSteadyState, zincatiBody("a", ""), true, 400, KindIdentity, "client_params.group"},
		{"slash in group", PathPreReboot, zincatiBody("a", "x/y"), true, 400, KindIdentity, "client_params.group"},
	} {
		code, e := s.post(t, tt.path, tt.body, tt.header)
		if code != tt.code || e.Kind != tt.kind || !strings.Contains(e.Value, tt.says) {
			t.Errorf("%s: %d %+v, want %d %s saying %q", tt.name, code, e, tt.code, tt.kind, tt.says)
		}
	}
	for _, path := range []string{PathPreReboot, PathSteadyState} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var e httpError
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || e.Kind != KindMethod {
			t.Errorf("GET %s = %s %+v, want 405 %s", path, resp.Status, e, KindMethod)
		}
	}
	if st := s.status(t, "default"); len(st.Holders) != 0 || len(st.History) != 0 {
		t.Errorf("refused requests changed the semaphore: %+v", st)
	}
}

func TestHealth(t *testing.T) {
	sem, _ := newSem(t, nil)
	s := newServer(t, sem)
	resp, err := http.Get(s.URL + PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %s", resp.Status)
	}
}

// TestTwoServers: two servers on one etcd (two cluster members) answer
// as one lock, and a server started anew keeps the holders.
func TestTwoServers(t *testing.T) {
	sem, eps := newSem(t, nil)
	one := newServer(t, sem)
	two := newServer(t, New(client(t, eps), nil))
	if code, _ := one.post(t, PathPreReboot, zincatiBody("a", "default"), true); code != http.StatusOK {
		t.Fatalf("one: pre-reboot a: %d", code)
	}
	if code, _ := two.post(t, PathPreReboot, zincatiBody("b", "default"), true); code != http.StatusConflict {
		t.Fatalf("two: pre-reboot b: %d, want 409 as a holds it via one", code)
	}
	one.Close()
	again := newServer(t, New(client(t, eps), nil))
	if st := again.status(t, "default"); !slices.Equal(st.Holders, []string{"a"}) {
		t.Fatalf("restarted server: holders %v, want [a]", st.Holders)
	}
	if code, _ := two.post(t, PathSteadyState, zincatiBody("a", "default"), true); code != http.StatusOK {
		t.Fatalf("two: steady-state a: %d", code)
	}
	if code, _ := again.post(t, PathPreReboot, zincatiBody("b", "default"), true); code != http.StatusOK {
		t.Fatalf("again: pre-reboot b: %d", code)
	}
}

func TestHealthEtcdDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	s := newServer(t, New(client(t, []string{dead}), nil))
	resp, err := http.Get(s.URL + PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	var e httpError
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || e.Kind != "etcd_unavailable" {
		t.Fatalf("health with etcd down = %s %+v, want 503 etcd_unavailable", resp.Status, e)
	}
}
