package fleetlock

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/rootfs/cluster/etcdtest"
)

func client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newSem starts an etcd and returns a Semaphore over it and its endpoints.
func newSem(t testing.TB, slots map[string]int) (*Semaphore, []string) {
	t.Helper()
	eps := etcdtest.Start(t)
	return New(client(t, eps), slots), eps
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
