package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/updater"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/server"
)

// fleetStatusCmd runs fleet status under a stand-in for the fleet
// parent command, which cli/fleet.go holds.
func fleetStatusCmd(t *testing.T, args ...string) (error, string) {
	t.Helper()
	var out bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}
	parent := &cobra.Command{Use: "fleet", SilenceUsage: true, SilenceErrors: true}
	parent.AddCommand(newFleetStatus(env))
	parent.SetArgs(append([]string{"status"}, args...))
	err := parent.ExecuteContext(context.Background())
	return err, out.String()
}

func TestRolloutAndFleetStatus(t *testing.T) {
	keys, priv, _ := releaseKeys(t)
	rp := filepath.Join(t.TempDir(), "repo")
	release := func(ver string) {
		t.Helper()
		dir := fakeBuild{version: ver, key: priv}.write(t, filepath.Join(t.TempDir(), "out"))
		if code, out := run(t, "release", "--from-build", dir, "--repo", rp, "--channel", "alpha", "--sign-key", filepath.Join(keys, sign.PrivateKeyFile)); code != ExitOK {
			t.Fatal(out)
		}
	}
	release("1.1.0")
	s, err := server.New(rp, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	check := func(id, ver string) string {
		t.Helper()
		o := &updater.Omaha{Server: srv.URL + server.OmahaPath, AppID: contract.OmahaAppID("minimal"), Version: ver, Track: "alpha", MachineID: id}
		offer, err := o.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if offer == nil {
			return ""
		}
		return offer.Version
	}
	var ids []string // the first in 1.1.0's first 34%, the others not
	for i := 0; len(ids) < 3; i++ {
		id := fmt.Sprintf("%032x", i)
		if in := server.Bucket(id, "1.1.0") < 34; in == (len(ids) == 0) {
			ids = append(ids, id)
		}
	}

	if code, out := run(t, "rollout", "status", "--server", srv.URL); code != ExitOK || !regexpLine(out, `^alpha\s+1\.1\.0\s+100%\s+-\s+every machine \(no rollout set\)`) {
		t.Errorf("rollout status: exit %d\n%s", code, out)
	}
	if code, out := run(t, "rollout", "set", "--server", srv.URL, "--channel", "alpha", "--percent", "34"); code != ExitOK || !regexpLine(out, `^alpha\s+1\.1\.0\s+34%\s+-\s+rolling out`) {
		t.Fatalf("rollout set: exit %d\n%s", code, out)
	}
	for i, id := range ids {
		if got, want := check(id, "1.0.0"), map[bool]string{true: "1.1.0"}[i == 0]; got != want {
			t.Errorf("at 34%%: machine %s offered %q, want %q", id, got, want)
		}
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"set", "--channel", "alpha", "--percent", "101"}, ExitUsage, "--percent 101: want 0 to 100"},
		{[]string{"set", "--channel", "alpha"}, ExitUsage, "give --percent"},
		{[]string{"set", "--channel", "alpha", "--step", "10"}, ExitUsage, "--step and --every go together"},
		{[]string{"pause"}, ExitUsage, "--channel is required"},
		{[]string{"set", "--channel", "nightly", "--percent", "5"}, ExitFailure, `channel "nightly": no such channel here (channels: alpha)`},
		{[]string{"pause", "--channel", "alpha", "--version", "0.9.0"}, ExitFailure, "channel alpha offers 1.1.0 and has no rollout of 0.9.0"},
	} {
		code, out := run(t, append(append([]string{"rollout"}, tt.args...), "--server", srv.URL)...)
		if code != tt.code || !strings.Contains(out, tt.msg) {
			t.Errorf("rollout %v: exit %d\n%s\nwant exit %d and %q", tt.args, code, out, tt.code, tt.msg)
		}
	}
	if code, out := run(t, "rollout", "set", "--server", srv.URL, "--channel", "alpha", "--percent", "100"); code != ExitOK {
		t.Fatal(out)
	}
	for _, id := range ids {
		if got := check(id, "1.0.0"); got != "1.1.0" {
			t.Errorf("at 100%%: machine %s offered %q", id, got)
		}
	}

	// 1.2.0: the first machine takes it and rolls back; the others are
	// never offered it and fleet status says why.
	release("1.2.0")
	if got := check(ids[0], "1.1.0"); got != "1.2.0" {
		t.Fatalf("offered %q, want 1.2.0", got)
	}
	o := &updater.Omaha{Server: srv.URL + server.OmahaPath, AppID: contract.OmahaAppID("minimal"), Version: "1.1.0", Track: "alpha", MachineID: ids[0]}
	if err := o.Report(context.Background(), updater.Event{Type: updater.EventUpdateComplete, Result: updater.ResultError,
		ErrorCode: contract.ErrRollback, Reason: "rolled back from 1.2.0 to slot A: services not healthy"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if got := check(id, "1.1.0"); got != "" {
			t.Errorf("machine %s offered %q after the rollback", id, got)
		}
	}
	lock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" || r.URL.Query().Get("group") != "default" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"group":"default","slots":1,"holders":[%q]}`, ids[1])
	}))
	defer lock.Close()
	err, out := fleetStatusCmd(t, "--server", srv.URL, "--fleetlock", lock.URL)
	for _, re := range []string{
		`^reboot lock \(group default\): 1 of 1 slots held by ` + ids[1] + `$`,
		`^` + ids[0] + `\s+1\.1\.0\s+alpha\s+error 44 \(rolled back.*UTC\s+-\s+rolled back 1\.2\.0`,
		`^` + ids[1] + `\s+1\.1\.0\s+alpha\s+checked\s+.*UTC\s+holds\s+rollout of 1\.2\.0 paused: auto-paused: 1 machine\(s\) rolled back 1\.2\.0: ` + ids[0],
	} {
		if err != nil || !regexpLine(out, re) {
			t.Errorf("fleet status: %v\n%s\nwant a line matching %s", err, out, re)
		}
	}
	err, out = fleetStatusCmd(t, "--server", srv.URL, "--json")
	var st fleetStatus
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Machines) != 3 || st.FleetLock != nil {
		t.Fatalf("fleet status --json: %v\n%s", err, out)
	}
	if m := st.Machines[2]; m.ID != ids[2] || !strings.HasPrefix(m.Why, "rollout of 1.2.0 paused") || m.Version != "1.1.0" || m.LastReport.IsZero() {
		t.Errorf("fleet status --json: %+v", m)
	}
	if code, out := run(t, "rollout", "status", "--server", srv.URL, "--json"); code != ExitOK || !strings.Contains(out, `"paused": true`) {
		t.Errorf("rollout status --json: exit %d\n%s", code, out)
	}
	if code, out := run(t, "rollout", "status", "--server", srv.URL); code != ExitOK || !regexpLine(out, `^alpha\s+1\.1\.0 \(superseded\)\s+100%\s+-\s+complete`) {
		t.Errorf("rollout status --json: exit %d\n%s", code, out)
	}
	if code, out := run(t, "rollout", "resume", "--server", srv.URL, "--channel", "alpha"); code != ExitOK || !regexpLine(out, `^alpha\s+1\.2\.0\s+100%\s+-\s+complete\s+`+ids[0]) {
		t.Errorf("rollout resume: exit %d\n%s", code, out)
	}
	if got := check(ids[1], "1.1.0"); got != "1.2.0" {
		t.Errorf("after resume: offered %q", got)
	}
	if err, out := fleetStatusCmd(t, "--server", srv.URL); err != nil || !regexpLine(out, `^`+ids[1]+`\s+.*waiting: offered 1\.2\.0`) {
		t.Errorf("fleet status after resume: %v\n%s", err, out)
	}
}

func TestServePauseAfterRefusesNegative(t *testing.T) {
	if code, out := run(t, "serve", "--repo", t.TempDir(), "--pause-after", "-1"); code != ExitUsage || !strings.Contains(out, "--pause-after -1") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
