package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/cluster/skydns"
)

// corefile is the documented cluster Corefile (docs/cluster.md)
// bound to 127.0.0.1 on a free port, against the test's etcd.
func corefile(t *testing.T, etcd string) string {
	port := freePort(t)
	return fmt.Sprintf(`cluster.internal:%[1]d {
	bind 127.0.0.1
	errors
	health 127.0.0.1:%[3]d
	etcd cluster.internal {
		endpoint %[2]s
		path /skydns
	}
	loadbalance
}

.:%[1]d {
	bind 127.0.0.1
	errors
	hosts
}
`, port, etcd, freePort(t))
}

// freePort is a port free for both UDP and TCP on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func startCoreDNS(t *testing.T, corefile string) string {
	t.Helper()
	caddy.Quiet = true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile", ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("coredns: %v", err)
	}
	t.Cleanup(func() { inst.Stop() })
	srvs := inst.Servers()
	if len(srvs) < 1 || srvs[0].LocalAddr() == nil {
		t.Fatalf("coredns: %d servers, want one with a UDP socket", len(srvs))
	}
	return srvs[0].LocalAddr().String()
}

func query(t *testing.T, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := new(dns.Client).Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func aRecords(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestClusterNames(t *testing.T) {
	etcd := startEtcd(t)
	c := newClient(t, etcd)
	ctx := context.Background()
	for key, val := range map[string]string{
		"/skydns/internal/cluster/web/node1": `{"host":"10.77.0.11","port":8080,"ttl":10}`,
		"/skydns/internal/cluster/web/node2": `{"host":"10.77.0.12","port":8080,"ttl":10}`,
		"/skydns/internal/cluster/db/node1":  `{"host":"10.77.0.11","port":5432,"ttl":10}`,
	} {
		if _, err := c.Put(ctx, key, val); err != nil {
			t.Fatal(err)
		}
	}
	server := startCoreDNS(t, corefile(t, etcd))

	r := query(t, server, "web.cluster.internal", dns.TypeA)
	if got := aRecords(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"10.77.0.11", "10.77.0.12"}) {
		t.Fatalf("web A: rcode %s, %v; want both machines\n%v", dns.RcodeToString[r.Rcode], got, r)
	}
	if r.Answer[0].Header().Ttl != 10 {
		t.Errorf("TTL %d, want the record's 10", r.Answer[0].Header().Ttl)
	}
	r = query(t, server, "db.cluster.internal", dns.TypeSRV)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 5432 {
		t.Errorf("db SRV: %v, want port 5432", r.Answer)
	}
	r = query(t, server, "node2.web.cluster.internal", dns.TypeA)
	if got := aRecords(r); !slices.Equal(got, []string{"10.77.0.12"}) {
		t.Errorf("node2.web A: %v, want 10.77.0.12 alone", got)
	}

	// A record deleted in etcd is gone from the next answer.
	if _, err := c.Delete(ctx, "/skydns/internal/cluster/web/node1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := aRecords(query(t, server, "web.cluster.internal", dns.TypeA))
		if slices.Equal(got, []string{"10.77.0.12"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web A after deleting node1: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := query(t, server, "nothing.cluster.internal", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// Outside the cluster domain: /etc/hosts, else SERVFAIL (the hosts
	// plugin has no SOA to deny with; nothing is forwarded).
	if r := query(t, server, "example.invalid", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("outside name: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

// TestDirectivesRegistered: every directive names a plugin this build
// carries, so a Corefile using it parses.
func TestDirectivesRegistered(t *testing.T) {
	plugins := strings.Split(caddy.DescribePlugins(), "\n")
	for _, d := range directives {
		if !slices.Contains(plugins, d) {
			t.Errorf("directive %s: no plugin registered", d)
		}
	}
}

// TestRegistrarToDNS: two machines' registrars (skydns.Keeper) follow
// their state files, and the name answers the healthy ones.
func TestRegistrarToDNS(t *testing.T) {
	etcd := startEtcd(t)
	server := startCoreDNS(t, corefile(t, etcd))
	services := []contract.Service{{Name: "httpd", Register: &contract.Register{Name: "web", Port: 8080}}}
	dirs := map[string]string{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for host, addr := range map[string]string{"node1": "10.77.0.11", "node2": "10.77.0.12"} {
		dirs[host] = t.TempDir()
		setState(t, dirs[host], contract.StateHealthy)
		k := &skydns.Keeper{Client: newClient(t, etcd), Host: host, Address: addr, Services: services,
			StateDir: dirs[host], Poll: 20 * time.Millisecond, Logf: t.Logf}
		go k.Run(ctx)
	}
	waitA(t, server, "web.cluster.internal", "10.77.0.11", "10.77.0.12")
	setState(t, dirs["node1"], contract.StateUnhealthy)
	waitA(t, server, "web.cluster.internal", "10.77.0.12")
	setState(t, dirs["node1"], contract.StateHealthy)
	setState(t, dirs["node2"], contract.StateStopped)
	waitA(t, server, "web.cluster.internal", "10.77.0.11")
}

func setState(t *testing.T, dir, state string) {
	t.Helper()
	data := contract.ServiceState{State: state, Since: time.Now()}.Format()
	if err := os.WriteFile(filepath.Join(dir, "httpd"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitA waits up to 3 s for name's A records to be want.
func waitA(t *testing.T, server, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := aRecords(query(t, server, name, dns.TypeA))
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s A: %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
