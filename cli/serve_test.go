package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
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

// updateEngineEvent is an event request as Flatcar's update_engine
// sends it (omaha_request_action.cc; see update/server's tests).
const updateEngineEvent = `<?xml version="1.0" encoding="UTF-8"?>
<request protocol="3.0" version="update_engine-0.4.10" updaterversion="update_engine-0.4.10" installsource="scheduler" ismachine="1">
    <os version="Chateau" platform="CoreOS" sp="1.0.0_x86_64"></os>
    <app appid="%s" version="1.0.0" track="alpha" bootid="{5b3c1d2e-0f4a-4b6c-8d7e-9f0a1b2c3d4e}" oem="" oemversion="" alephversion="1.0.0" machineid="0123456789abcdef0123456789abcdef" machinealias="" lang="en-US" board="amd64-usr" hardware_class="" delta_okay="false" >
        <event eventtype="3" eventresult="0" errorcode="%d"></event>
    </app>
</request>
`

func TestServe(t *testing.T) {
	keys, priv, _ := releaseKeys(t)
	rp := filepath.Join(t.TempDir(), "repo")
	dir := fakeBuild{version: "1.1.0", key: priv}.write(t, filepath.Join(t.TempDir(), "out"))
	if code, out := run(t, "release", "--from-build", dir, "--repo", rp, "--channel", "alpha", "--sign-key", filepath.Join(keys, sign.PrivateKeyFile)); code != ExitOK {
		t.Fatal(out)
	}
	if code, out := run(t, "serve", "--repo", rp, "--status"); code != ExitOK || !strings.Contains(out, "no machine has reported") {
		t.Errorf("serve --status before any report: exit %d\n%s", code, out)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8090"} {
		if code, out := run(t, "serve", "--repo", rp, "--addr", addr); code != ExitUsage || !strings.Contains(out, "not a loopback address") {
			t.Errorf("serve --addr %s: exit %d\n%s", addr, code, out)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Execute(ctx, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out},
			[]string{"serve", "--repo", rp, "--addr", "127.0.0.1:0", "--keys-pub", filepath.Join(keys, sign.PublicKeyFile)})
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)/`).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not say where it listens:\n%s", out.String())
	}
	body := fmt.Sprintf(updateEngineEvent, contract.OmahaAppID("minimal"), contract.ErrRollback)
	resp, err := http.Post(base+"/v1/update/", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `<event status="ok">`) {
		t.Errorf("event: HTTP %d\n%s", resp.StatusCode, answer)
	}
	resp, err = http.Get(base + "/v1/machines")
	if err != nil {
		t.Fatal(err)
	}
	machines, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(machines), `"machine_id": "0123456789abcdef0123456789abcdef"`) || !strings.Contains(string(machines), `"error_code": 44`) {
		t.Errorf("/v1/machines:\n%s", machines)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("serve exited %d after its context ended\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}

	code, status := run(t, "serve", "--repo", rp, "--status")
	if code != ExitOK || !regexpLine(status, `^0123456789abcdef0123456789abcdef\s+1\.0\.0\s+alpha\s+3/0 error 44 \(rolled back.*\)\s+44 \(rolled back`) {
		t.Errorf("serve --status: exit %d\n%s", code, status)
	}
}
