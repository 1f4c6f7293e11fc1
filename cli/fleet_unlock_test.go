package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/rootfs/cluster/etcdtest"
	"github.com/imgbuild/imgbuild/rootfs/cluster/fleetlock"
)

func TestFleetUnlock(t *testing.T) {
	eps := etcdtest.Start(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sem := fleetlock.New(c, map[string]int{"workers": 2})
	for _, id := range []string{"node1", "node2"} {
		if _, _, err := sem.Lock(ctx, "workers", id); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Execute(ctx, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, args)
		return code, out.String(), errb.String()
	}

	code, _, stderr := run("fleet", "unlock", "node9", "--etcd", eps[0], "--group", "workers")
	if code != ExitFailure || !strings.Contains(stderr, "node9 holds no slot") || !strings.Contains(stderr, "node1, node2") {
		t.Fatalf("unlock node9: exit %d, stderr %q; want an error naming node1, node2", code, stderr)
	}
	code, stdout, stderr := run("fleet", "unlock", "node1", "--etcd", eps[0], "--group", "workers")
	if code != ExitOK {
		t.Fatalf("unlock node1: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"released node1 from group workers (held by node1, node2)", "now 1 of 2 slots held by node2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("unlock node1 printed %q, want %q", stdout, want)
		}
	}
	if st, err := sem.Get(ctx, "workers"); err != nil || !slices.Equal(st.Holders, []string{"node2"}) {
		t.Errorf("after unlock: %+v, %v; want node2 alone", st, err)
	}
	// Unlocking again is an error: node1 no longer holds it.
	if code, _, stderr := run("fleet", "unlock", "node1", "--etcd", eps[0], "--group", "workers"); code != ExitFailure || !strings.Contains(stderr, "held by node2") {
		t.Errorf("unlock node1 again: exit %d, %q", code, stderr)
	}
	if code, _, _ := run("fleet", "unlock", "node2"); code != ExitUsage {
		t.Errorf("unlock without --etcd: exit %d, want %d", code, ExitUsage)
	}
}
