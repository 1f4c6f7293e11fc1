package qemutests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/rootfs/cluster/fleetlock"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/server"
)

// buildFleetImages builds manifests/cluster.yaml as v1 and v2, signed,
// as the manifest is (its update server is where the tests' guestfwd
// puts imgbuild serve) but checking every 5 s.
func buildFleetImages(t *testing.T) *updateImages {
	t.Helper()
	if testing.Short() {
		t.Skip("builds images (minutes)")
	}
	dir := t.TempDir()
	u := &updateImages{dir: dir, versions: map[*output.Result]string{}}
	if err := os.MkdirAll(filepath.Join(dir, "key"), 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if u.key.pub, u.key.priv, err = sign.GenerateKey(filepath.Join(dir, "key")); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "manifests", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"allow_unsigned: true", "  server: " + omahaServer + "\n", "  interval: 30s\n", "  reboot: fleetlock\n"} {
		if !bytes.Contains(src, []byte(want)) {
			t.Fatalf("manifests/cluster.yaml no longer has %q; update this test", want)
		}
	}
	src = bytes.Replace(src, []byte("allow_unsigned: true"), []byte("allow_unsigned: false"), 1)
	src = bytes.Replace(src, []byte("  interval: 30s\n"), []byte("  interval: 5s\n"), 1)
	for _, v := range []struct {
		res **output.Result
		ver string
	}{{&u.v1, "1.0.0"}, {&u.v2, "2.0.0"}} {
		if err := u.build(v.res, v.ver, src); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// quickPut is one write of the host's writer: short, so that a member
// that is rebooting costs one try, not the tick.
func quickPut(port int, key, value string) error {
	body, _ := json.Marshal(map[string]string{"key": b64(key), "value": b64(value)})
	client := http.Client{Timeout: time.Second}
	r, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/v3/kv/put", port), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", r.Status)
	}
	return nil
}

// TestFleetRollingUpdate: three members of manifests/cluster.yaml on
// v1 follow the test's imgbuild serve; v2 is released. Every member
// installs it at once but reboots only holding the FleetLock lock (the
// semaphore in etcd, one slot), so they reboot one at a time: no
// member's reboot begins before the previous one's new slot is marked
// good, and the lock's history in etcd never shows two holders. A host
// writer puts a key every 200 ms all through, to whichever member
// answers; the longest run of ticks no member took is reported (etcd
// keeps quorum: it must stay under a few elections).
func TestFleetRollingUpdate(t *testing.T) {
	skipShort(t)
	u := buildFleetImages(t)
	root := t.TempDir()
	u.release(t, root, "stable", u.v1)
	h, err := server.New(root, server.Options{Keys: []ed25519.PublicKey{mustPublic(t, u.key.pub)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, root, h)
	cfgDir := filepath.Join(t.TempDir(), "configs")
	if code, out := imgbuildOut(t, "cluster", "configs", "--nodes", "3", "-o", cfgDir); code != 0 {
		t.Fatalf("cluster configs: exit %d\n%s", code, out)
	}
	names := []string{"node1", "node2", "node3"}
	var cfgs []qemu.Config
	var ports []int
	for _, n := range names {
		cfg := machineVM(diskCopy(t, u.v1), filepath.Join(t.TempDir(), n+".vars"), filepath.Join(cfgDir, n+".ign"))
		cfg.MemoryMiB, cfg.AllowReboot = 768, true
		cfg.GuestFwds = []string{guestFwd(t, srv.addr)}
		port := freePort(t)
		cfg.Forwards = []qemu.Forward{{Host: port, Guest: 2379}}
		cfgs, ports = append(cfgs, cfg), append(ports, port)
	}
	vms, _ := vmtest.StartCluster(t, cfgs)
	from := make([]int, len(vms))
	for i, v := range vms {
		from[i] = v.ExpectHealthy(5*time.Minute).Index + 1
	}

	// The writer.
	stop := make(chan struct{})
	var wmu sync.Mutex
	var ticks []bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ok := false
			for j := range ports {
				if quickPut(ports[(n+j)%len(ports)], "/fleet/writer", fmt.Sprint(n)) == nil {
					ok = true
					break
				}
			}
			wmu.Lock()
			ticks = append(ticks, ok)
			wmu.Unlock()
		}
	}()

	u.release(t, root, "stable", u.v2)
	start := time.Now()
	type span struct {
		name         string
		reboot, good time.Time
		err          error
	}
	spans := make([]span, len(vms))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var vwg sync.WaitGroup
	for i, v := range vms {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			s := span{name: names[i]}
			defer func() { spans[i] = s }()
			c := v.Console
			j, _, err := c.Expect(ctx, from[i], regexp.MustCompile(`\[imgbuild-agent\] installed 2\.0\.0 into slot b`), nil)
			if err == nil {
				j, _, err = c.Expect(ctx, j, regexp.MustCompile(`imgbuild-sysinit: reboot`), nil)
				s.reboot = time.Now()
			}
			if err == nil {
				_, _, err = c.Expect(ctx, j, regexp.MustCompile(`\[imgbuild-agent\] 2\.0\.0 is marked good \(updated from 1\.0\.0\)`), nil)
				s.good = time.Now()
			}
			s.err = err
		}()
	}
	vwg.Wait()
	close(stop)
	wg.Wait()
	for i, s := range spans {
		if s.err != nil {
			t.Fatalf("%s did not update to 2.0.0: %v\n%s", s.name, s.err, vmtest.Tail(vms[i].Output(), 40))
		}
	}
	t.Logf("rolling update of 3 members: %.1fs from release to the last marked good", time.Since(start).Seconds())

	sort.Slice(spans, func(i, j int) bool { return spans[i].reboot.Before(spans[j].reboot) })
	for i, s := range spans {
		t.Logf("%s rebooted at +%.1fs, marked good at +%.1fs", s.name, s.reboot.Sub(start).Seconds(), s.good.Sub(start).Seconds())
		if i > 0 && !s.reboot.After(spans[i-1].good) {
			t.Errorf("%s rebooted at +%.1fs, before %s was marked good (+%.1fs): two members down at once", s.name, s.reboot.Sub(start).Seconds(), spans[i-1].name, spans[i-1].good.Sub(start).Seconds())
		}
	}

	// The lock's own history, read from etcd.
	hist := lockHistory(t, ports[0])
	grants, most := 0, 0
	for _, e := range hist {
		if e.Action == fleetlock.ActionGrant {
			grants++
		}
		most = max(most, len(e.Holders))
	}
	t.Logf("lock history: %d entries, %d grants, at most %d holder(s)", len(hist), grants, most)
	if grants < 3 || most != 1 {
		t.Errorf("lock history %+v: want a grant per member and never more than one holder", hist)
	}

	wmu.Lock()
	defer wmu.Unlock()
	longest, run, failed := 0, 0, 0
	for _, ok := range ticks {
		if ok {
			run = 0
			continue
		}
		failed++
		run++
		longest = max(longest, run)
	}
	gap := time.Duration(longest) * 200 * time.Millisecond
	t.Logf("writer: %d ticks, %d without a write; longest gap %s", len(ticks), failed, gap)
	if gap > 15*time.Second {
		t.Errorf("no member took a write for %s: quorum was lost", gap)
	}
}

// lockHistory reads the FleetLock history of group default from etcd's
// JSON gateway.
func lockHistory(t *testing.T, port int) []fleetlock.Event {
	t.Helper()
	prefix := fleetlock.Prefix + "default/history/"
	end := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
	kv := etcdKV{t, "node1", port}
	var out struct {
		KVs []struct{ Value string } `json:"kvs"`
	}
	if err := kv.call("/v3/kv/range", map[string]string{"key": b64(prefix), "range_end": b64(end)}, &out); err != nil {
		t.Fatal(err)
	}
	var hist []fleetlock.Event
	for _, x := range out.KVs {
		raw, err := base64.StdEncoding.DecodeString(x.Value)
		if err != nil {
			t.Fatal(err)
		}
		var e fleetlock.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("history entry %q: %v", raw, err)
		}
		hist = append(hist, e)
	}
	return hist
}
