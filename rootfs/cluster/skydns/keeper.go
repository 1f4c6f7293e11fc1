package skydns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/contract"
)

// Keeper keeps one machine's records.
type Keeper struct {
	Client   *clientv3.Client
	Host     string             // the machine's hostname: the last label of each key
	Address  string             // the machine's address on the cluster network
	Services []contract.Service // those with Register are kept
	StateDir string             // contract.ServiceStateDir
	// LeaseTTL is the lease's TTL in seconds (10): how long a dead
	// machine's records outlive it.
	LeaseTTL int64
	// Poll is how often the state files are read (500 ms): a service
	// turning unhealthy is unregistered within it.
	Poll time.Duration
	Logf func(format string, args ...any)
}

// Run keeps the records until ctx ends, then revokes the lease so that
// they go at once. A lost lease (etcd unreachable for longer than its
// TTL) is granted again and the records put again; Run returns only
// when ctx ends or the client is closed.
func (k *Keeper) Run(ctx context.Context) error {
	k.defaults()
	var lease clientv3.LeaseID
	var alive <-chan *clientv3.LeaseKeepAliveResponse
	published := map[string]bool{} // key -> put under the current lease
	tick := time.NewTicker(k.Poll)
	defer tick.Stop()
	lastErr := "" // a grant failing every poll (etcd not up yet) is reported once
	for {
		if lease == 0 {
			var err error
			if lease, alive, err = k.grant(ctx); err != nil {
				switch {
				case ctx.Err() != nil:
					return nil
				case k.Client.Ctx().Err() != nil:
					return fmt.Errorf("skydns: etcd client closed")
				case err.Error() != lastErr:
					k.Logf("skydns: %v (trying again every %v)", err, k.Poll)
					lastErr = err.Error()
				}
			} else {
				lastErr = ""
			}
			clear(published)
		}
		if lease != 0 {
			k.sync(ctx, lease, published)
		}
		select {
		case <-ctx.Done():
			k.revoke(lease)
			return nil
		case <-k.Client.Ctx().Done():
			return fmt.Errorf("skydns: etcd client closed")
		case _, ok := <-alive:
			if !ok {
				k.Logf("skydns: lease %x lost; granting another", lease)
				lease, alive = 0, nil
			}
		case <-tick.C:
		}
	}
}

func (k *Keeper) defaults() {
	if k.LeaseTTL == 0 {
		k.LeaseTTL = 10
	}
	if k.Poll == 0 {
		k.Poll = 500 * time.Millisecond
	}
	if k.StateDir == "" {
		k.StateDir = contract.ServiceStateDir
	}
	if k.Logf == nil {
		k.Logf = func(string, ...any) {}
	}
}

func (k *Keeper) grant(ctx context.Context) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	g, err := k.Client.Grant(gctx, k.LeaseTTL)
	if err != nil {
		return 0, nil, fmt.Errorf("grant lease: %w", err)
	}
	alive, err := k.Client.KeepAlive(ctx, g.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("keep lease %x alive: %w", g.ID, err)
	}
	return g.ID, alive, nil
}

func (k *Keeper) revoke(lease clientv3.LeaseID) {
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := k.Client.Revoke(ctx, lease); err != nil {
		k.Logf("skydns: revoke lease %x: %v", lease, err)
	}
}

// sync puts the record of every healthy registered service not yet put
// under lease and deletes that of every other one once.
func (k *Keeper) sync(ctx context.Context, lease clientv3.LeaseID, published map[string]bool) {
	for _, s := range k.Services {
		r := s.Register
		if r == nil {
			continue
		}
		key := Key(r.Name, k.Host)
		want := k.healthy(s.Name)
		if put, seen := published[key]; seen && put == want {
			continue
		}
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if want {
			_, err = k.Client.Put(octx, key, Value(k.Address, r.Port), clientv3.WithLease(lease))
		} else {
			_, err = k.Client.Delete(octx, key)
		}
		cancel()
		if err != nil {
			k.Logf("skydns: %s: %v", key, err)
			continue // tried again at the next poll
		}
		published[key] = want
		if want {
			k.Logf("skydns: registered %s.%s -> %s:%d", r.Name, contract.ClusterDomain, k.Address, r.Port)
		} else {
			k.Logf("skydns: unregistered %s (%s not healthy)", key, s.Name)
		}
	}
}

// healthy reads a service's state file; a missing or unreadable one is
// not healthy.
func (k *Keeper) healthy(service string) bool {
	data, err := os.ReadFile(filepath.Join(k.StateDir, service))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			k.Logf("skydns: %v", err)
		}
		return false
	}
	st, err := contract.ParseServiceState(data)
	if err != nil {
		k.Logf("skydns: %s: %v", service, err)
		return false
	}
	return st.State == contract.StateHealthy
}
