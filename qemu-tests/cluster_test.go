package qemutests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
)

// etcdKV speaks etcd's v3 JSON gateway (a peer we did not write) on a
// member's forwarded client port.
type etcdKV struct {
	t    *testing.T
	name string
	port int
}

func (e etcdKV) call(path string, req any, resp any) error {
	body, _ := json.Marshal(req)
	client := http.Client{Timeout: 10 * time.Second}
	r, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d%s", e.port, path), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		return fmt.Errorf("%s: %s: %s", path, r.Status, strings.TrimSpace(b.String()))
	}
	return json.NewDecoder(r.Body).Decode(resp)
}

func (e etcdKV) put(key, value string) error {
	var out map[string]any
	return e.call("/v3/kv/put", map[string]string{"key": b64(key), "value": b64(value)}, &out)
}

// get is a linearizable read unless serializable, which answers from the
// member's own copy (to see that a member caught up by itself).
func (e etcdKV) get(key string, serializable bool) (string, error) {
	var out struct {
		KVs []struct{ Value string } `json:"kvs"`
	}
	if err := e.call("/v3/kv/range", map[string]any{"key": b64(key), "serializable": serializable}, &out); err != nil {
		return "", err
	}
	if len(out.KVs) == 0 {
		return "", fmt.Errorf("%s: no key %s", e.name, key)
	}
	v, err := base64.StdEncoding.DecodeString(out.KVs[0].Value)
	return string(v), err
}

func (e etcdKV) members() (int, error) {
	var out struct {
		Members []struct{ Name string } `json:"members"`
	}
	err := e.call("/v3/cluster/member/list", map[string]any{}, &out)
	return len(out.Members), err
}

// eventually retries f for up to d.
func eventually(d time.Duration, f func() error) error {
	end := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestEtcdCluster is the README's path to a cluster: imgbuild cluster
// configs writes three members' configs, imgbuild cluster up boots them
// on one private segment until healthy (etcd's /health: a leader with
// quorum) and powers them off. The same disks then boot again as test
// VMs: a put on one member is read from the other two; with one member
// killed, writes go on; it comes back and catches up by itself.
func TestEtcdCluster(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "cluster")
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "configs")
	if code, out := imgbuildOut(t, "cluster", "configs", "--nodes", "3", "-o", cfgDir); code != 0 {
		t.Fatalf("cluster configs: exit %d\n%s", code, out)
	}
	start := time.Now()
	state := filepath.Join(dir, "machines")
	code, out := imgbuildOut(t, "cluster", "up", artifact(t, res, "disk"), "--configs", cfgDir, "--state", state, "--until-healthy", "--timeout", "10m", "-q")
	if code != 0 {
		t.Fatalf("cluster up: exit %d\n%s", code, out)
	}
	for _, want := range []string{"node1    10.77.0.11  127.0.0.1:", "node3    10.77.0.13  127.0.0.1:", "ssh -p "} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster up's table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("cluster up: 3 members healthy and powered off in %.1fs", time.Since(start).Seconds())

	names := []string{"node1", "node2", "node3"}
	var cfgs []qemu.Config
	var kvs []etcdKV
	for i, n := range names {
		cfg := machineVM(filepath.Join(state, n+".img"), filepath.Join(state, n+".img.vars"), filepath.Join(cfgDir, n+".ign"))
		cfg.MemoryMiB = 768
		port := freePort(t)
		cfg.Forwards = []qemu.Forward{{Host: port, Guest: 2379}}
		cfgs = append(cfgs, cfg)
		kvs = append(kvs, etcdKV{t, names[i], port})
	}
	start = time.Now()
	vms, seg := vmtest.StartCluster(t, cfgs)
	for _, v := range vms {
		v.ExpectHealthy(5 * time.Minute)
	}
	t.Logf("booted again: healthy in %.1fs", time.Since(start).Seconds())
	if n, err := kvs[1].members(); err != nil || n != 3 {
		t.Fatalf("member list from node2: %d members, %v", n, err)
	}
	if err := kvs[0].put("/test/greeting", "hello from node1"); err != nil {
		t.Fatalf("put on node1: %v", err)
	}
	for _, kv := range kvs[1:] {
		if got, err := kv.get("/test/greeting", false); err != nil || got != "hello from node1" {
			t.Errorf("%s reads %q, %v", kv.name, got, err)
		}
	}

	if got := vms[1].Run("etcdctl get /test/greeting --print-value-only", time.Minute); got != "hello from node1" {
		t.Errorf("etcdctl on node2: %q", got)
	}

	// web is registered on every member while healthy: node3's CoreDNS
	// answers web.cluster.internal from etcd with all three; once node1's
	// health file is gone its record goes, within the registrar's lease.
	lookup := func() string {
		return vms[2].Run("nslookup web.cluster.internal 127.0.0.1 | busybox grep -o '10\\.77\\.0\\.1[0-9]' | busybox sort | busybox tr '\\n' ' '", time.Minute)
	}
	waitLookup := func(want string) {
		t.Helper()
		var got string
		for end := time.Now().Add(45 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
			if got = strings.TrimSpace(lookup()); got == want {
				return
			}
		}
		t.Errorf("web.cluster.internal from node3: %q, want %q", got, want)
	}
	waitLookup("10.77.0.11 10.77.0.12 10.77.0.13")
	vms[0].Run("rm /var/www/healthz", time.Minute)
	dropped := time.Now()
	waitLookup("10.77.0.12 10.77.0.13")
	t.Logf("node1's web record gone %.1fs after its health file", time.Since(dropped).Seconds())

	// node3 dies: two of three keep quorum and take writes.
	vms[2].Kill()
	vms[2].WaitExit(time.Minute) // killed: its exit status says so
	for i := range 5 {
		if err := eventually(30*time.Second, func() error { return kvs[i%2].put(fmt.Sprintf("/test/while-down/%d", i), "v") }); err != nil {
			t.Fatalf("put %d on %s with node3 down: %v", i, kvs[i%2].name, err)
		}
	}
	if err := kvs[1].put("/test/latest", "written while node3 was down"); err != nil {
		t.Fatal(err)
	}

	// node3 comes back on the same disk and port and catches up.
	p, err := seg.Port(2)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p.Local) // QEMU binds its socket anew
	cfg := cfgs[2]
	cfg.Segment = p
	back := vmtest.Start(t, cfg)
	back.ExpectHealthy(5 * time.Minute)
	var got string
	err = eventually(time.Minute, func() error {
		var err error
		got, err = kvs[2].get("/test/latest", true)
		return err
	})
	if err != nil || got != "written while node3 was down" {
		t.Errorf("node3's own copy after it came back: %q, %v", got, err)
	}
	if got, err := kvs[2].get("/test/while-down/4", true); err != nil || got != "v" {
		t.Errorf("node3's own copy of /test/while-down/4: %q, %v", got, err)
	}
	t.Logf("etcd cluster test %.1fs", time.Since(start).Seconds())
}
