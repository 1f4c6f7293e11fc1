package servicestatus

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixture(t *testing.T) (Paths, time.Time) {
	t.Helper()
	dir := t.TempDir()
	p := Paths{StatusDir: filepath.Join(dir, "status"), CgroupRoot: filepath.Join(dir, "cgroup")}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, r := range []Record{
		{Name: "web", State: Healthy, Since: now.Add(-90 * time.Second), PID: 412, Starts: 3, LastExit: "exited (signal 9)", LastAt: now.Add(-91 * time.Second), Command: "/usr/bin/web"},
		{Name: "job", State: Exited, Since: now.Add(-time.Hour), Starts: 1, LastExit: "exited (status 0)", LastAt: now.Add(-time.Hour), Command: "/bin/true"},
	} {
		if err := Write(p.StatusDir, r); err != nil {
			t.Fatal(err)
		}
	}
	web := filepath.Join(p.CgroupRoot, "services", "web")
	os.MkdirAll(web, 0o755)
	for name, content := range map[string]string{
		"memory.current": "16777216\n", "memory.peak": "33554432\n", "memory.max": "67108864\n",
		"memory.events": "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n", "pids.current": "7\n", "pids.max": "max\n",
		"cpu.stat": "usage_usec 1530000\nuser_usec 1000000\n",
	} {
		os.WriteFile(filepath.Join(web, name), []byte(content), 0o644)
	}
	return p, now
}

func TestTable(t *testing.T) {
	p, now := fixture(t)
	var out, errOut bytes.Buffer
	if code := Main(nil, p, now, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two services:\n%s", out.String())
	}
	for _, want := range []string{"job", "exited", "1h0m0s ago", "-"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("job line lacks %q: %s", want, lines[1])
		}
	}
	web := strings.Fields(lines[2])
	want := []string{"web", "healthy", "1m30s", "ago", "412", "2", "16.0MiB", "32.0MiB", "64.0MiB", "2", "7", "1.53s", "exited", "(signal", "9),", "1m31s", "ago"}
	if strings.Join(web, " ") != strings.Join(want, " ") {
		t.Errorf("web line\n  %s\nwant\n  %s", strings.Join(web, " "), strings.Join(want, " "))
	}
}

func TestJSONAndNames(t *testing.T) {
	p, now := fixture(t)
	var out, errOut bytes.Buffer
	if code := Main([]string{"status", "-json", "web"}, p, now, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var s Status
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if s.Name != "web" || s.Restarts != 2 || s.Usage.OOMKills != 2 || s.Usage.PidsMax != -1 || s.Usage.CPUUsec != 1530000 {
		t.Errorf("got %+v", s)
	}
	// A named service that is not running: 3, as systemctl status.
	out.Reset()
	if code := Main([]string{"status", "job"}, p, now, &out, &errOut); code != 3 {
		t.Errorf("job: exit %d, want 3", code)
	}
	errOut.Reset()
	if code := Main([]string{"nope"}, p, now, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `no service "nope"`) {
		t.Errorf("unknown name: exit %d, %q", code, errOut.String())
	}
}
