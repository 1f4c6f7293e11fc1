// Command imgbuild-registrar publishes this machine's registered
// services in the cluster's DNS: it reads the image's config
// (contract.Path) for the services with register:, and keeps a SkyDNS
// record in etcd for each one sysinit's state files say is healthy
// (rootfs/cluster/skydns, docs/cluster.md).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/cluster/skydns"
)

func main() {
	log.SetFlags(0)
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("imgbuild-registrar: %v", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("imgbuild-registrar", flag.ContinueOnError)
	config := fs.String("config", contract.Path, "the image's runtime config")
	stateDir := fs.String("state-dir", contract.ServiceStateDir, "sysinit's service state files")
	endpoints := fs.String("etcd", envOr("REGISTRAR_ETCD", "http://127.0.0.1:2379"), "etcd client URLs, comma-separated (env REGISTRAR_ETCD)")
	address := fs.String("address", os.Getenv("REGISTRAR_ADDRESS"), "this machine's address on the cluster network (env REGISTRAR_ADDRESS; default: the first static address of "+contract.NetworkDir+", else the first global IPv4 of the NICs)")
	hostname := fs.String("hostname", "", "the records' last label (default: the hostname)")
	ttl := fs.Int64("lease-ttl", 10, "seconds a dead machine's records outlive it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	services, err := registered(*config)
	if err != nil {
		return err
	}
	if *address == "" {
		if *address, err = defaultAddress(contract.NetworkDir); err != nil {
			return err
		}
	}
	if *hostname == "" {
		if *hostname, err = os.Hostname(); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd %s: %w", *endpoints, err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Printf("imgbuild-registrar: %d service(s) as %s at %s, etcd %s", len(services), *hostname, *address, *endpoints)
	k := &skydns.Keeper{Client: c, Host: *hostname, Address: *address, Services: services,
		StateDir: *stateDir, LeaseTTL: *ttl, Logf: log.Printf}
	return k.Run(ctx)
}

// registered reads the services with a Register from the image's config.
func registered(path string) ([]contract.Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg contract.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var out []contract.Service
	for _, s := range cfg.Services {
		if s.Register != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
