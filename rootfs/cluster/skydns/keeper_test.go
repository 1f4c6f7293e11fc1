package skydns

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/contract"
)

func setState(t *testing.T, dir, service, state string) {
	t.Helper()
	data := contract.ServiceState{State: state, Since: time.Now()}.Format()
	if err := os.WriteFile(filepath.Join(dir, service), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitKey waits until key's value is want ("" for no key) within d.
func waitKey(t *testing.T, c *clientv3.Client, key, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	got := ""
	for time.Now().Before(deadline) {
		resp, err := c.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		got = ""
		if len(resp.Kvs) > 0 {
			got = string(resp.Kvs[0].Value)
		}
		if got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s = %q after %v, want %q", key, got, d, want)
}

var services = []contract.Service{
	{Name: "httpd", Register: &contract.Register{Name: "web", Port: 8080}},
	{Name: "sshd"}, // not registered: no record whatever its state
}

func TestKeeperFollowsState(t *testing.T) {
	c := newClient(t, startEtcd(t))
	dir := t.TempDir()
	k := &Keeper{Client: c, Host: "node1", Address: "10.77.0.11", Services: services,
		StateDir: dir, Poll: 20 * time.Millisecond, Logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()

	key := "/skydns/internal/cluster/web/node1"
	rec := `{"host":"10.77.0.11","port":8080,"ttl":10}`
	setState(t, dir, "sshd", contract.StateHealthy)
	setState(t, dir, "httpd", contract.StateUnhealthy)
	time.Sleep(100 * time.Millisecond)
	waitKey(t, c, key, "", time.Second)
	setState(t, dir, "httpd", contract.StateHealthy)
	waitKey(t, c, key, rec, 2*time.Second)
	setState(t, dir, "httpd", contract.StateUnhealthy)
	waitKey(t, c, key, "", 2*time.Second)
	setState(t, dir, "httpd", contract.StateHealthy)
	waitKey(t, c, key, rec, 2*time.Second)
	setState(t, dir, "httpd", contract.StateStopped)
	waitKey(t, c, key, "", 2*time.Second)
	setState(t, dir, "httpd", contract.StateHealthy)
	waitKey(t, c, key, rec, 2*time.Second)
	if resp, err := c.Get(context.Background(), contract.SkyDNSPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 1 {
		t.Errorf("records under %s: %v %v, want just %s", contract.SkyDNSPrefix, resp, err, key)
	}

	// A stopped registrar revokes its lease: the record goes at once.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitKey(t, c, key, "", 500*time.Millisecond)
}

// TestDeadKeeperExpires: a registrar that dies (here: its etcd client
// closes under it, so no keep-alive and no revoke) loses its records a
// lease TTL later, and not much sooner.
func TestDeadKeeperExpires(t *testing.T) {
	endpoint := startEtcd(t)
	watch := newClient(t, endpoint)
	dying, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	setState(t, dir, "httpd", contract.StateHealthy)
	k := &Keeper{Client: dying, Host: "node2", Address: "10.77.0.12", Services: services,
		StateDir: dir, LeaseTTL: 3, Poll: 20 * time.Millisecond, Logf: t.Logf}
	done := make(chan error, 1)
	go func() { done <- k.Run(context.Background()) }()
	key := "/skydns/internal/cluster/web/node2"
	waitKey(t, watch, key, `{"host":"10.77.0.12","port":8080,"ttl":10}`, 2*time.Second)
	time.Sleep(4 * time.Second) // beyond one TTL: the keep-alives hold it
	waitKey(t, watch, key, `{"host":"10.77.0.12","port":8080,"ttl":10}`, 10*time.Millisecond)

	dying.Close()
	died := time.Now()
	if err := <-done; err == nil {
		t.Error("Run returned nil after its client closed")
	}
	time.Sleep(time.Second)
	waitKey(t, watch, key, `{"host":"10.77.0.12","port":8080,"ttl":10}`, 10*time.Millisecond)
	waitKey(t, watch, key, "", 5*time.Second)
	t.Logf("record gone %v after the registrar died", time.Since(died).Round(100*time.Millisecond))
}
