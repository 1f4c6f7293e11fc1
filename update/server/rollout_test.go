package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/updater"
	"github.com/imgbuild/imgbuild/update/repo"
)

// rolloutFixture is a repository whose channel alpha offers 1.1.0, and
// a server on it that can be restarted.
type rolloutFixture struct {
	root string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	now  time.Time
	srv  *httptest.Server
}

func newRolloutFixture(t *testing.T) *rolloutFixture {
	t.Helper()
	pub, priv := testKey(t)
	f := &rolloutFixture{root: t.TempDir(), pub: pub, priv: priv, now: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.publish(t, v)
	}
	f.start(t)
	return f
}

func (f *rolloutFixture) publish(t *testing.T, ver string) {
	t.Helper()
	p, err := repo.AddPayload(f.root, fakePayload(t, ver, f.priv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Publish(f.root, "alpha", p, f.priv, f.now); err != nil {
		t.Fatal(err)
	}
}

// start (re)starts the server on the repository, as a new process would.
func (f *rolloutFixture) start(t *testing.T) {
	t.Helper()
	if f.srv != nil {
		f.srv.Close()
	}
	s, err := New(f.root, Options{Keys: []ed25519.PublicKey{f.pub}, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
}

// machine is the real agent's Omaha client for one machine on alpha.
func (f *rolloutFixture) machine(id, ver string) *updater.Omaha {
	return &updater.Omaha{Server: f.srv.URL + OmahaPath, AppID: contract.OmahaAppID("minimal"), Version: ver, Track: "alpha", MachineID: id}
}

// offered is the version a machine's check is offered, "" for none.
func (f *rolloutFixture) offered(t *testing.T, id, ver string) string {
	t.Helper()
	offer, err := f.machine(id, ver).Check(context.Background())
	if err != nil {
		t.Fatalf("machine %s: check: %v", id, err)
	}
	if offer == nil {
		return ""
	}
	return offer.Version
}

func (f *rolloutFixture) post(t *testing.T, req RolloutRequest) (int, RolloutStatus, string) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(f.srv.URL+RolloutsPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("POST %s: HTTP %d, not JSON: %v", RolloutsPath, resp.StatusCode, err)
	}
	var st RolloutStatus
	_ = json.Unmarshal(raw, &st)
	var e struct{ Error string }
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return resp.StatusCode, st, e.Error
	}
	return resp.StatusCode, st, string(raw)
}

func (f *rolloutFixture) status(t *testing.T) []RolloutStatus {
	t.Helper()
	resp, err := http.Get(f.srv.URL + RolloutsPath + "?channel=alpha")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []RolloutStatus
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", RolloutsPath, resp.StatusCode, err)
	}
	return list
}

func pct(p int) *int { return &p }

// machinesSplit returns three machine ids of which only the first is in
// the first 34% of version's rollout.
func machinesSplit(t *testing.T, version string) []string {
	t.Helper()
	var in, out []string
	for i := 0; len(in) < 1 || len(out) < 2; i++ {
		id := fmt.Sprintf("%032x", i)
		if Bucket(id, version) < 34 {
			in = append(in, id)
		} else {
			out = append(out, id)
		}
	}
	return []string{in[0], out[0], out[1]}
}

func TestRolloutStagedAndAutoPaused(t *testing.T) {
	f := newRolloutFixture(t)
	ids := machinesSplit(t, "1.1.0")
	if code, st, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(34)}); code != http.StatusOK || st.Version != "1.1.0" || st.PercentNow != 34 || !st.Current {
		t.Fatalf("set 34%%: HTTP %d %s", code, raw)
	}
	for i, id := range ids {
		got := f.offered(t, id, "1.0.0")
		if want := map[bool]string{true: "1.1.0", false: ""}[i == 0]; got != want {
			t.Errorf("at 34%%: machine %s (bucket %d) offered %q, want %q", id, Bucket(id, "1.1.0"), got, want)
		}
	}
	m := f.srvMachines(t)[ids[1]]
	if !strings.Contains(m.Held, "outside the rollout of 1.1.0 at 34%") {
		t.Errorf("held machine's record says %q", m.Held)
	}
	if code, _, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(100)}); code != http.StatusOK {
		t.Fatalf("set 100%%: HTTP %d %s", code, raw)
	}
	for _, id := range ids {
		if got := f.offered(t, id, "1.0.0"); got != "1.1.0" {
			t.Errorf("at 100%%: machine %s offered %q", id, got)
		}
	}

	// 1.2.0 goes to everyone (no rollout set); the first machine takes
	// it, its trial boots fail and it reports the rollback as the agent
	// does. No other machine is offered 1.2.0 after that.
	f.publish(t, "1.2.0")
	if got := f.offered(t, ids[0], "1.1.0"); got != "1.2.0" {
		t.Fatalf("machine %s offered %q, want 1.2.0", ids[0], got)
	}
	f.now = f.now.Add(10 * time.Minute)
	// The version comes in the event's own attribute; the reason is
	// not read for it (the agents before the attribute: below).
	err := f.machine(ids[0], "1.1.0").Report(context.Background(), updater.Event{Type: updater.EventUpdateComplete, Result: updater.ResultError,
		ErrorCode: contract.ErrRollback, Reason: "services not healthy", RolledBack: "1.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			f.start(t) // the pause is kept across a restart
		}
		for _, id := range ids[1:] {
			if got := f.offered(t, id, "1.1.0"); got != "" {
				t.Errorf("restart %v: machine %s offered %q after a rollback paused 1.2.0", restart, id, got)
			}
		}
		var r *RolloutStatus
		for _, st := range f.status(t) {
			if st.Version == "1.2.0" {
				r = &st
			}
		}
		if r == nil || !r.Paused || !r.Current || !strings.Contains(r.Why, ids[0]) || !r.PausedAt.Equal(f.now) ||
			len(r.Rollback) != 1 || r.Rollback[0].Machine != ids[0] {
			t.Fatalf("restart %v: rollout of 1.2.0 %+v, want paused naming %s", restart, r, ids[0])
		}
		if m := f.srvMachines(t)[ids[0]]; m.LastError == nil || m.LastError.RolledBack != "1.2.0" {
			t.Errorf("rolled-back machine's last error %+v, want rolled_back 1.2.0", m.LastError)
		}
		if m := f.srvMachines(t)[ids[1]]; !strings.Contains(m.Held, "rollout of 1.2.0 paused: auto-paused: 1 machine(s) rolled back 1.2.0") {
			t.Errorf("held machine's record says %q", m.Held)
		}
	}
	if code, st, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "resume"}); code != http.StatusOK || st.Paused {
		t.Fatalf("resume: HTTP %d %s", code, raw)
	}
	if got := f.offered(t, ids[1], "1.1.0"); got != "1.2.0" {
		t.Errorf("after resume: offered %q", got)
	}
}

func (f *rolloutFixture) srvMachines(t *testing.T) map[string]Machine {
	t.Helper()
	list, err := ReadMachines(MachinesFile(f.root))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Machine{}
	for _, m := range list {
		out[m.ID] = *m
	}
	return out
}

func TestRolloutPauseAfterCountsMachines(t *testing.T) {
	f := newRolloutFixture(t)
	s, err := New(f.root, Options{PauseAfter: 2, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	f.srv = httptest.NewServer(s)
	defer f.srv.Close()
	report := func(id string) {
		err := f.machine(id, "1.0.0").Report(context.Background(), updater.Event{Type: updater.EventUpdateComplete, Result: updater.ResultError,
			ErrorCode: contract.ErrRollback, Reason: "rolled back from 1.1.0 to slot A: x"}) // as agents before imgbuild_rolled_back: the version read from the reason
		if err != nil {
			t.Fatal(err)
		}
	}
	report("a")
	report("a") // the same machine twice is one machine
	if st := f.status(t); st[0].Paused {
		t.Fatalf("paused after one machine's rollbacks with --pause-after 2: %+v", st[0])
	}
	report("b")
	if st := f.status(t); !st[0].Paused || !strings.Contains(st[0].Why, "2 machine(s)") {
		t.Fatalf("not paused after two machines: %+v", st[0])
	}
}

func TestRolloutAPIRefuses(t *testing.T) {
	f := newRolloutFixture(t)
	for _, tt := range []struct {
		req  RolloutRequest
		code int
		msg  string
	}{
		{RolloutRequest{Channel: "nightly", Action: "set", Percent: pct(5)}, 404, `channel "nightly": no such channel here (channels: alpha)`},
		{RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(101)}, 400, "percent 101: want 0 to 100"},
		{RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(-1)}, 400, "percent -1"},
		{RolloutRequest{Channel: "alpha", Action: "set"}, 400, "give percent"},
		{RolloutRequest{Channel: "alpha", Action: "set", Step: pct(10)}, 400, "step and every go together"},
		{RolloutRequest{Channel: "alpha", Version: "1.0.0", Action: "pause"}, 404, "channel alpha offers 1.1.0 and has no rollout of 1.0.0"},
		{RolloutRequest{Channel: "alpha", Version: "x.y", Action: "set", Percent: pct(5)}, 400, `version "x.y"`},
		{RolloutRequest{Channel: "alpha", Action: "resume"}, 400, "is not paused"},
		{RolloutRequest{Channel: "alpha", Action: "stop"}, 400, `action "stop"`},
	} {
		code, _, raw := f.post(t, tt.req)
		if code != tt.code || !strings.Contains(raw, tt.msg) {
			t.Errorf("%+v: HTTP %d %s, want %d %q", tt.req, code, raw, tt.code, tt.msg)
		}
	}
	// A newer version may be staged before it reaches the channel.
	if code, st, raw := f.post(t, RolloutRequest{Channel: "alpha", Version: "1.2.0", Action: "set", Percent: pct(0)}); code != 200 || st.Current || st.PercentNow != 0 {
		t.Errorf("staging 1.2.0: HTTP %d %s", code, raw)
	}
	s, err := New(f.root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, RolloutsPath, strings.NewReader(`{"channel":"alpha","action":"pause"}`))
	req.RemoteAddr = "192.0.2.7:4000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("POST from another machine: HTTP %d %s", w.Code, w.Body)
	}
}

func TestRolloutSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := &Rollout{Version: "1.1.0", Percent: 10, Step: 30, Every: Duration(time.Hour), Since: t0}
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{{0, 10}, {59 * time.Minute, 10}, {time.Hour, 40}, {2*time.Hour + time.Minute, 70}, {3 * time.Hour, 100}, {1000 * time.Hour, 100}} {
		if got := r.PercentAt(t0.Add(tt.after)); got != tt.want {
			t.Errorf("after %s: %d%%, want %d%%", tt.after, got, tt.want)
		}
	}
	r.Paused = true
	if got := r.PercentAt(t0.Add(2 * time.Hour)); got != 10 {
		t.Errorf("paused: %d%%, want the percent it was paused at", got)
	}
}

func TestBucketStable(t *testing.T) {
	// Buckets are part of what machines see: changing the hash moves
	// machines in and out of running rollouts.
	if got := Bucket("0123456789abcdef0123456789abcdef", "1.1.0"); got != bucketGolden {
		t.Errorf("bucket %d, want %d", got, bucketGolden)
	}
	var same, in10, in50 int
	for i := range 2000 {
		id := fmt.Sprintf("%032x", i)
		b := Bucket(id, "1.1.0")
		if b == Bucket(strings.ToUpper(id), "1.1.0") {
			same++
		}
		if b < 10 {
			in10++
		}
		if b < 50 {
			in50++
		}
	}
	if same != 2000 || in10 < 120 || in10 > 280 || in50 < 900 || in50 > 1100 {
		t.Errorf("case-insensitive %d/2000, under 10: %d, under 50: %d", same, in10, in50)
	}
	differ := 0
	for i := range 100 {
		id := fmt.Sprintf("%032x", i)
		if (Bucket(id, "1.1.0") < 34) != (Bucket(id, "1.2.0") < 34) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("two versions start with the same machines")
	}
}

const bucketGolden = 22

func TestRolloutScheduleThroughAPI(t *testing.T) {
	f := newRolloutFixture(t)
	id := ""
	for i := 0; id == ""; i++ {
		if c := fmt.Sprintf("%032x", i); Bucket(c, "1.1.0") < 50 && Bucket(c, "1.1.0") >= 10 {
			id = c
		}
	}
	hour := Duration(time.Hour)
	if code, _, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(0), Step: pct(50), Every: &hour}); code != http.StatusOK {
		t.Fatalf("set: HTTP %d %s", code, raw)
	}
	if got := f.offered(t, id, "1.0.0"); got != "" {
		t.Errorf("at 0%%: offered %q", got)
	}
	f.now = f.now.Add(90 * time.Minute)
	if got := f.offered(t, id, "1.0.0"); got != "1.1.0" {
		t.Errorf("an hour and a half in (50%%): offered %q", got)
	}
	if code, st, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "pause", Why: "looking at disks"}); code != http.StatusOK || st.Percent != 50 || st.Why != "looking at disks" {
		t.Fatalf("pause: HTTP %d %s", code, raw)
	}
	f.now = f.now.Add(5 * time.Hour)
	if st := f.status(t); st[0].PercentNow != 50 || !st[0].Paused {
		t.Errorf("paused for 5h: %+v, want 50%% and paused", st[0])
	}
	if code, st, raw := f.post(t, RolloutRequest{Channel: "alpha", Action: "set", Percent: pct(10)}); code != http.StatusOK || !st.Paused || st.PercentNow != 10 {
		t.Errorf("set while paused: HTTP %d %s, want it to stay paused", code, raw)
	}
}
