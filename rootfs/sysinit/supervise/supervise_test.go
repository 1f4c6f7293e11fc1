package supervise

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// syncBuffer is a goroutine-safe sink for Console.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) waitFor(t *testing.T, substr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.String(), substr) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q within %v in output:\n%s", substr, d, s.String())
}

var (
	reaperOnce sync.Once
	testReaper *Reaper
)

// sharedReaper: one wait4(-1) loop per test binary, like PID 1 has.
func sharedReaper() *Reaper {
	reaperOnce.Do(func() {
		testReaper = NewReaper()
		go testReaper.Run(context.Background())
	})
	return testReaper
}

func newTestSupervisor(t *testing.T, services []contract.Service, mod ...func(*Options)) (*Supervisor, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	con := NewConsole(buf)
	opts := Options{
		Console:      con,
		Logf:         func(f string, a ...any) { con.Printf("sysinit: "+f, a...) },
		Reaper:       sharedReaper(),
		BaseEnv:      []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"},
		StableAfter:  time.Hour,
		FailLogEvery: 50 * time.Millisecond,
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := New(services, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(2 * time.Second) })
	return s, buf
}

func sh(name, script string, mod ...func(*contract.Service)) contract.Service {
	s := contract.Service{Name: name, Command: "/bin/sh", Args: []string{"-c", script}, Restart: "never"}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func TestOutputPrefixed(t *testing.T) {
	_, buf := newTestSupervisor(t, []contract.Service{
		sh("echo", `echo hello; echo oops >&2; printf 'no newline'`),
	})
	buf.waitFor(t, "sysinit: echo exited (status 0)", 5*time.Second)
	buf.waitFor(t, "[echo] no newline\n", 2*time.Second)
	for _, want := range []string{"[echo] hello\n", "[echo] oops\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q in\n%s", want, buf.String())
		}
	}
}

func TestOutputLinesNeverInterleave(t *testing.T) {
	long := strings.Repeat("x", 1000)
	script := fmt.Sprintf(`i=0; while [ $i -lt 200 ]; do echo %s; i=$((i+1)); done`, long)
	_, buf := newTestSupervisor(t, []contract.Service{sh("a", script), sh("b", script)})
	buf.waitFor(t, "a exited", 10*time.Second)
	buf.waitFor(t, "b exited", 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if strings.HasPrefix(line, "sysinit: ") {
			continue
		}
		if line != "[a] "+long && line != "[b] "+long {
			t.Fatalf("mangled line %.60q...", line)
		}
		n++
	}
	if n != 400 {
		t.Errorf("got %d service lines, want 400", n)
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy, script string
		wantRestart    bool
	}{
		{"always", "exit 0", true},
		{"always", "exit 3", true},
		{"on-failure", "exit 3", true},
		{"on-failure", "exit 0", false},
		{"never", "exit 3", false},
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+tt.script, func(t *testing.T) {
			dir := t.TempDir()
			counter := filepath.Join(dir, "runs")
			script := fmt.Sprintf("echo run >> %s; %s", counter, tt.script)
			_, buf := newTestSupervisor(t, []contract.Service{sh("svc", script, func(s *contract.Service) {
				s.Restart, s.BackoffMS, s.MaxBackoffMS = tt.policy, 20, 40
			})})
			buf.waitFor(t, "svc exited", 5*time.Second)
			time.Sleep(400 * time.Millisecond)
			b, _ := os.ReadFile(counter)
			runs := strings.Count(string(b), "run")
			if tt.wantRestart && runs < 3 {
				t.Errorf("ran %d times, want restarts; output:\n%s", runs, buf.String())
			}
			if !tt.wantRestart && runs != 1 {
				t.Errorf("ran %d times, want 1; output:\n%s", runs, buf.String())
			}
		})
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	_, buf := newTestSupervisor(t, []contract.Service{sh("crash", "exit 1", func(s *contract.Service) {
		s.Restart, s.BackoffMS, s.MaxBackoffMS = "always", 10, 40
	})})
	buf.waitFor(t, "restarting in 40ms", 5*time.Second)
	buf.waitFor(t, "crash exited (status 1), restarting in 40ms\nsysinit: crash exited (status 1), restarting in 40ms", 5*time.Second)
	out := buf.String()
	want := "crash exited (status 1), restarting in 10ms\nsysinit: crash exited (status 1), restarting in 20ms\nsysinit: crash exited (status 1), restarting in 40ms"
	if !strings.Contains(out, want) {
		t.Errorf("want sequence %q in\n%s", want, out)
	}
}

func TestEnv(t *testing.T) {
	_, buf := newTestSupervisor(t, []contract.Service{sh("env", `echo "$GREETING $PATH"`, func(s *contract.Service) {
		s.Env = []string{"GREETING=hi", "PATH=/custom:/bin"}
	})})
	buf.waitFor(t, "env exited", 5*time.Second)
	buf.waitFor(t, "[env] hi /custom:/bin\n", time.Second)
}

func TestBackoffUnit(t *testing.T) {
	b := newBackoff(100, 350)
	var got []time.Duration
	for range 5 {
		got = append(got, b.delay())
	}
	want := []time.Duration{100, 200, 350, 350, 350}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.reset()
	if d := b.delay(); d != 100*time.Millisecond {
		t.Errorf("after reset %v", d)
	}
}

// TestDependencyOrder checks db -> app -> web. The log records when each
// shell wrote, not when the supervisor started it, so every edge is gated
// on a health check that needs the earlier line in the log: the order of
// the lines is then the supervisor's doing, never the scheduler's. (With
// app ready as soon as it was started, web's shell could write before
// app's on a busy machine.)
func TestDependencyOrder(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "order")
	var mu sync.Mutex
	early := map[string]bool{}
	// gate answers 503 until the log holds name and hold has passed since;
	// on its first 200 it notes whether next had already started.
	gate := func(name, next string, hold time.Duration) http.HandlerFunc {
		var since time.Time
		passed := false
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			b, _ := os.ReadFile(log)
			if !strings.Contains(string(b), name) {
				w.WriteHeader(503)
				return
			}
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) < hold {
				w.WriteHeader(503)
				return
			}
			if !passed {
				passed, early[next] = true, strings.Contains(string(b), next)
			}
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/db", gate("db", "app", 300*time.Millisecond))
	mux.Handle("/app", gate("app", "web", 0))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	health := func(path string) func(*contract.Service) {
		return func(s *contract.Service) {
			s.Health = &contract.Health{HTTPURL: srv.URL + path, IntervalMS: 20, TimeoutMS: 200}
		}
	}
	services := []contract.Service{
		sh("web", "echo web >> "+log+"; sleep 30", func(s *contract.Service) { s.After = []string{"app"} }),
		sh("app", "echo app >> "+log+"; sleep 30", func(s *contract.Service) { s.After = []string{"db"} }, health("/app")),
		sh("db", "echo db >> "+log+"; sleep 30", health("/db")),
	}
	sup, buf := newTestSupervisor(t, services)
	select {
	case <-sup.Healthy():
	case <-time.After(20 * time.Second):
		t.Fatalf("never healthy:\n%s", buf.String())
	}
	// Healthy means web was started; its shell may not have written yet.
	b := waitLines(t, log, 3, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, next := range []string{"app", "web"} {
		if early[next] {
			t.Errorf("%s started before the service it comes after was healthy", next)
		}
	}
	if got := strings.Fields(b); strings.Join(got, ",") != "db,app,web" {
		t.Errorf("start order %v, want db,app,web\n%s", got, buf.String())
	}
}

// TestReadyWithoutHealth: a service without a health check is ready once
// it is running, so what comes after it does not wait for it to exit.
func TestReadyWithoutHealth(t *testing.T) {
	sup, buf := newTestSupervisor(t, []contract.Service{sh("app", "sleep 30")})
	select {
	case <-sup.Ready("app"):
	case <-time.After(10 * time.Second):
		t.Fatalf("a running service without a health check is not ready:\n%s", buf.String())
	}
}

// waitLines waits until path holds at least n lines and returns it.
func waitLines(t *testing.T, path string, n int, d time.Duration) string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ = os.ReadFile(path); strings.Count(string(b), "\n") >= n {
			return string(b)
		}
	}
	t.Fatalf("%s holds %q after %v, want %d lines", path, b, d, n)
	return ""
}

func TestValidate(t *testing.T) {
	svc := func(name string, after ...string) contract.Service {
		return contract.Service{Name: name, Command: "/bin/true", Restart: "never", After: after}
	}
	tests := []struct {
		name     string
		services []contract.Service
		wantErr  string
	}{
		{"ok", []contract.Service{svc("a"), svc("b", "a")}, ""},
		{"cycle", []contract.Service{svc("a", "b"), svc("b", "a")}, "cycle"},
		{"self", []contract.Service{svc("a", "a")}, "cycle"},
		{"unknown", []contract.Service{svc("a", "zz")}, "unknown service"},
		{"dup", []contract.Service{svc("a"), svc("a")}, "twice"},
		{"policy", []contract.Service{{Name: "a", Command: "/x", Restart: "sometimes"}}, "restart policy"},
		{"health", []contract.Service{{Name: "a", Command: "/x", Health: &contract.Health{}}}, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.services)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer okSrv.Close()
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer badSrv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	live := okSrv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name   string
		h      contract.Health
		wantOK bool
	}{
		{"http 200", contract.Health{HTTPURL: okSrv.URL}, true},
		{"http 503", contract.Health{HTTPURL: badSrv.URL}, false},
		{"http dead", contract.Health{HTTPURL: fmt.Sprintf("http://127.0.0.1:%d/", dead), TimeoutMS: 300}, false},
		{"tcp live", contract.Health{TCPPort: live}, true},
		{"tcp dead", contract.Health{TCPPort: dead, TimeoutMS: 300}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Probe(context.Background(), &tt.h)
			if (err == nil) != tt.wantOK {
				t.Errorf("Probe = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestFailingHealthBlocksHealthy(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	sup, buf := newTestSupervisor(t, []contract.Service{
		sh("good", "sleep 30", func(s *contract.Service) {
			s.Health = &contract.Health{HTTPURL: srv.URL, IntervalMS: 20}
		}),
		sh("bad", "sleep 30", func(s *contract.Service) {
			s.Health = &contract.Health{TCPPort: dead, IntervalMS: 20, TimeoutMS: 100}
		}),
	})
	buf.waitFor(t, "bad health check failing: tcp", 5*time.Second)
	select {
	case <-sup.Ready("good"):
	case <-time.After(5 * time.Second):
		t.Fatal("good never ready")
	}
	select {
	case <-sup.Healthy():
		t.Fatal("healthy despite a failing check")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestHealthyWithoutChecks(t *testing.T) {
	sup, buf := newTestSupervisor(t, []contract.Service{
		sh("daemon", "sleep 30"),
		sh("oneshot", "exit 0"),
	})
	select {
	case <-sup.Healthy():
	case <-time.After(5 * time.Second):
		t.Fatalf("never healthy:\n%s", buf.String())
	}
}

func TestStopKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	// The child of the shell ignores nothing but is in the service's group.
	sup, buf := newTestSupervisor(t, []contract.Service{
		sh("tree", fmt.Sprintf("sleep 60 & echo $! > %s; trap '' TERM; wait", pidFile), func(s *contract.Service) { s.Restart = "always" }),
	})
	<-sup.Healthy()
	deadline := time.Now().Add(5 * time.Second)
	var pid int
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 1 {
			fmt.Sscan(string(b), &pid)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatalf("no child pid:\n%s", buf.String())
	}
	start := time.Now()
	sup.Stop(300 * time.Millisecond)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Stop took %v", el)
	}
	time.Sleep(1100 * time.Millisecond) // a reaper tick
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if !strings.Contains(string(b), ") Z") {
			t.Errorf("grandchild %d still alive: %s", pid, b)
		}
	}
	if strings.Contains(buf.String(), "restarting") {
		t.Errorf("restarted during stop:\n%s", buf.String())
	}
}

func TestRunsAsUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to change uid")
	}
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n"), 0o644)
	os.WriteFile(group, []byte("www:x:34:\nweb:x:500:www\n"), 0o644)
	buf := &syncBuffer{}
	con := NewConsole(buf)
	s, err := New([]contract.Service{sh("who", "id -u; id -g; id -G; echo $HOME", func(s *contract.Service) { s.User = "www" })},
		Options{Console: con, Reaper: sharedReaper(), PasswdPath: passwd, GroupPath: group,
			Logf: func(f string, a ...any) { con.Printf("sysinit: "+f, a...) }, BaseEnv: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop(time.Second)
	buf.waitFor(t, "who exited", 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	for _, want := range []string{"[who] 33\n", "[who] 34\n", "[who] 34 500\n", "[who] /var/www\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q in\n%s", want, buf.String())
		}
	}
}

// A check that passes at once is seen long before its interval, and the
// supervisor says when, with the guest clock.
func TestFirstProbeEarly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	start := time.Now()
	sup, buf := newTestSupervisor(t, []contract.Service{sh("web", "sleep 30", func(s *contract.Service) {
		s.Health = &contract.Health{HTTPURL: srv.URL, IntervalMS: 5000}
	})})
	select {
	case <-sup.Healthy():
	case <-time.After(4 * time.Second):
		t.Fatal("not healthy before the first 5 s interval")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("healthy after %v with a check that passes at once", d)
	}
	if !regexp.MustCompile(`sysinit: web ready at \d+\.\d\ds since boot`).MatchString(buf.String()) {
		t.Errorf("no ready line in %q", buf.String())
	}
}
