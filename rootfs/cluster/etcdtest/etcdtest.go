// Package etcdtest starts a real, single-member etcd for tests and
// benchmarks: the same server code the etcd image runs, on 127.0.0.1
// with ports of its own and a temporary data directory.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startTimeout bounds how long etcd may take to elect itself.
const startTimeout = 30 * time.Second

// Start runs an etcd until t's cleanup and returns its client URLs.
func Start(t testing.TB) (endpoints []string) {
	t.Helper()
	var err error
	// A port picked free can be taken before etcd binds it; try again.
	for range 3 {
		var e *embed.Etcd
		if e, err = start(t.TempDir()); err == nil {
			t.Cleanup(e.Close)
			return []string{e.Config().AdvertiseClientUrls[0].String()}
		}
	}
	t.Fatalf("etcdtest: %v", err)
	return nil
}

func start(dir string) (*embed.Etcd, error) {
	client, err := freeURL()
	if err != nil {
		return nil, err
	}
	peer, err := freeURL()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = dir
	// Its own shutdown logs errors for closed listeners; startup errors
	// come back from StartEtcd anyway.
	cfg.LogLevel = "fatal"
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start: %w", err)
	case <-time.After(startTimeout):
		e.Close()
		return nil, fmt.Errorf("not ready after %v", startTimeout)
	}
}

func freeURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return &url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}
