package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
)

func TestStaticAddressFirst(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"10-lan.network": "[Match]\nName=eth0\n\n[Network]\nAddress=10.77.0.12/24\nAddress=10.77.0.99/24\n",
		"20-wan.network": "[Match]\nName=eth1\n\n[Network]\nAddress=192.0.2.5/24\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := defaultAddress(dir)
	if err != nil || got != "10.77.0.12" {
		t.Errorf("defaultAddress = %q, %v; want 10.77.0.12", got, err)
	}
}

func TestFirstGlobalIPv4(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	got, ok := firstGlobalIPv4([]net.Addr{cidr("127.0.0.1/8"), cidr("fe80::1/64"), cidr("169.254.1.1/16"), cidr("2001:db8::1/64"), cidr("10.0.2.15/24"), cidr("10.0.3.15/24")})
	if !ok || got.String() != "10.0.2.15" {
		t.Errorf("got %v %v, want 10.0.2.15", got, ok)
	}
	if got, ok := firstGlobalIPv4([]net.Addr{cidr("127.0.0.1/8")}); ok {
		t.Errorf("loopback only: got %v", got)
	}
}

func TestRegistered(t *testing.T) {
	p := filepath.Join(t.TempDir(), "image.json")
	cfg := `{"name":"c","version":"1.0.0","hostname":"h","services":[` +
		`{"name":"etcd","command":"/usr/bin/etcd","restart":"always","backoff_ms":0,"max_backoff_ms":0},` +
		`{"name":"httpd","command":"/usr/bin/httpd","restart":"always","backoff_ms":0,"max_backoff_ms":0,"register":{"name":"web","port":8080}}]}`
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := registered(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "httpd" || *got[0].Register != (contract.Register{Name: "web", Port: 8080}) {
		t.Errorf("registered = %+v", got)
	}
	if _, err := registered(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing config: no error")
	}
}
