package lockclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// server answers on 127.0.0.1 and records what the client sent.
type server struct {
	method, path, header, ctype, body string
	status                            int
	answer                            string
}

func (s *server) start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.method, s.path, s.header, s.ctype, s.body = r.Method, r.URL.Path, r.Header.Get(Header), r.Header.Get("Content-Type"), string(b)
		if s.status != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(s.status)
		io.WriteString(w, s.answer)
	}))
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestRequests(t *testing.T) {
	for _, tc := range []struct {
		op   string
		call func(*Client, context.Context) error
	}{
		{"pre-reboot", (*Client).PreReboot},
		{"steady-state", (*Client).SteadyState},
	} {
		t.Run(tc.op, func(t *testing.T) {
			s := &server{status: http.StatusOK}
			// A trailing slash on the base URL must not double.
			c := &Client{URL: s.start(t) + "/", Group: "etcd", ID: "0123456789abcdef0123456789abcdef"}
			if err := tc.call(c, context.Background()); err != nil {
				t.Fatal(err)
			}
			if s.method != http.MethodPost || s.path != "/v1/"+tc.op || s.header != "true" {
				t.Errorf("sent %s %s with %s: %q", s.method, s.path, Header, s.header)
			}
			want := `{"client_params":{"id":"0123456789abcdef0123456789abcdef","group":"etcd"}}`
			if s.body != want || s.ctype != "application/json" {
				t.Errorf("body %q (%s), want %q", s.body, s.ctype, want)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name, answer        string
		status              int
		wantKind, wantValue string
		call                func(*Client, context.Context) error
		wantOp              string
	}{
		// airlock's and fleetlockd's shape.
		{"lock full", `{"kind":"failed_lock","value":"semaphore currently full"}`, http.StatusConflict,
			"failed_lock", "semaphore currently full", (*Client).PreReboot, "pre-reboot"},
		{"unlock failed", `{"kind":"failed_unlock","value":"etcd unavailable"}`, http.StatusServiceUnavailable,
			"failed_unlock", "etcd unavailable", (*Client).SteadyState, "steady-state"},
		{"not JSON", "bad gateway\n", http.StatusBadGateway, "", "bad gateway", (*Client).PreReboot, "pre-reboot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{status: tc.status, answer: tc.answer}
			c := &Client{URL: s.start(t), Group: "default", ID: "m1"}
			err := tc.call(c, context.Background())
			var r *Refused
			if !errors.As(err, &r) {
				t.Fatalf("err = %v, want *Refused", err)
			}
			if r.Status != tc.status || r.Kind != tc.wantKind || r.Value != tc.wantValue || r.Op != tc.wantOp {
				t.Errorf("refused = %+v", r)
			}
		})
	}
}

func TestNoContentIsGranted(t *testing.T) {
	s := &server{status: http.StatusNoContent}
	if err := (&Client{URL: s.start(t), Group: "default", ID: "m1"}).PreReboot(context.Background()); err != nil {
		t.Errorf("204: %v, want granted", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = (&Client{URL: "http://" + addr, Group: "default", ID: "m1"}).PreReboot(context.Background())
	var r *Refused
	if err == nil || errors.As(err, &r) {
		t.Errorf("err = %v, want a transport error (not a refusal)", err)
	}
}
