package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// corefile is the documented cluster Corefile (docs/cluster-dns.md)
// bound to 127.0.0.1 on a free port, against the test's etcd.
func corefile(etcd string) string {
	return fmt.Sprintf(`cluster.internal:0 {
	bind 127.0.0.1
	errors
	etcd cluster.internal {
		endpoint %s
		path /skydns
	}
	loadbalance
}
`, etcd)
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
	if len(srvs) != 1 || srvs[0].LocalAddr() == nil {
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
	server := startCoreDNS(t, corefile(etcd))

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
