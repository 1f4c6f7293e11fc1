// Command fleetlockd is the FleetLock server of a cluster machine: it
// answers Zincati-style reboot-lock requests (package
// rootfs/cluster/fleetlock) from a semaphore kept in the local etcd, so
// every member answers alike and a restart loses no lock. It runs as a
// plain service beside etcd, which starts at the same time, so it waits
// for etcd before it listens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/imgbuild/imgbuild/rootfs/cluster/fleetlock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "fleetlockd: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetlockd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", env("FLEETLOCK_LISTEN", ":3333"), "address to serve FleetLock on (FLEETLOCK_LISTEN)")
	etcd := fs.String("etcd", env("FLEETLOCK_ETCD", "http://127.0.0.1:2379"), "etcd client URLs, comma-separated (FLEETLOCK_ETCD)")
	slotsFlag := fs.String("slots", env("FLEETLOCK_SLOTS", ""), "slots per group, e.g. default=1,workers=2; others get 1 (FLEETLOCK_SLOTS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	slots, err := fleetlock.ParseSlots(*slotsFlag)
	if err != nil {
		return fmt.Errorf("-slots: %w", err)
	}
	logger := log.New(stderr, "", 0)
	client, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*etcd, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd %s: %w", *etcd, err)
	}
	defer client.Close()
	sem := fleetlock.New(client, slots)
	if err := waitEtcd(ctx, sem, logger); err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: fleetlock.NewHandler(sem, logger.Printf), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	logger.Printf("fleetlockd: serving on %s, etcd %s, slots %v (others %d)", *listen, *etcd, slots, fleetlock.DefaultSlots)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitEtcd retries until etcd answers, backing off to 10 s, and says so
// once a minute rather than on every try.
func waitEtcd(ctx context.Context, sem *fleetlock.Semaphore, logger *log.Logger) error {
	delay, lastSaid := 250*time.Millisecond, time.Time{}
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := sem.Ping(try)
		cancel()
		if err == nil {
			return nil
		}
		if time.Since(lastSaid) > time.Minute {
			logger.Printf("fleetlockd: waiting for etcd: %v", err)
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}
