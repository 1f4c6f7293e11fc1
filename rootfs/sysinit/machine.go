package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
)

const (
	oemMountpoint = "/run/imgbuild/oem"
	// oemPartition is the OEM partition's number on the boot disk
	// (docs/layout.md).
	oemPartition = 6
	fetchTimeout = 2 * time.Minute
)

// netState lets the machine config wait for the network, only when it
// has something to fetch; the network itself waits behind gate for the
// config to write its .network files, or to need the network first.
type netState struct {
	done     chan struct{}
	up       bool
	gate     chan struct{}
	gateOnce sync.Once
}

func newNetState() *netState {
	return &netState{done: make(chan struct{}), gate: make(chan struct{})}
}

// open lets the network be configured; it reports whether it was open
// already: the config needed the network before it wrote its files.
func (n *netState) open() (already bool) {
	already = true
	n.gateOnce.Do(func() {
		already = false
		if n.gate != nil {
			close(n.gate)
		}
	})
	return already
}

func (n *netState) client(ctx context.Context) *http.Client {
	n.open()
	select {
	case <-n.done:
	case <-ctx.Done():
		return nil
	}
	if !n.up {
		return nil
	}
	return &http.Client{Timeout: fetchTimeout}
}

// machineConfig applies the per-machine config on the first boot that
// has one, before any service starts; a refused config stops the boot.
func (s *sysinit) machineConfig(ctx context.Context, net *netState) {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	sources := []ignition.Source{
		ignition.FwCfg("/sys"),
		ignition.OEM(func() (string, error) { return oemDevice(string(cmdline)) }, oemMountpoint),
		ignition.URL(string(cmdline)),
	}
	md := s.platformMetadata(net)
	if md != nil {
		ignition.UserData = md.userData()
	}
	if ignition.UserData != nil {
		sources = append(sources, *ignition.UserData)
	}
	start := time.Now()
	out, err := ignition.Boot(ctx, ignition.BootOptions{Root: "/", Sources: sources, Network: net.client})
	switch {
	case err != nil:
		s.refuseConfig(out, err)
	case out.Earlier:
		s.logf("per-machine config sha256:%.12s was applied on an earlier boot; not applied again", out.SHA256)
	case out.None:
		s.logf("no per-machine config (fw_cfg %s, OEM partition, %s=%s)", contract.IgnitionFwCfg, contract.IgnitionURLKey, userDataName())
	default:
		s.logf("per-machine config sha256:%.12s from %s applied (%.2fs)", out.SHA256, out.Source, time.Since(start).Seconds())
	}
	if md != nil {
		md.apply(ctx)
	}
}

func userDataName() string {
	if ignition.UserData == nil {
		return ""
	}
	return ", " + ignition.UserData.Name
}

// refuseConfig prints one banner naming every refused field, as
// Ignition's emergency message does, and stops the boot.
func (s *sysinit) refuseConfig(out ignition.Outcome, err error) {
	from := out.Source
	if from == "" {
		from = "its source"
	}
	lines := []string{contract.BannerRule, "PER-MACHINE CONFIG REFUSED (from " + from + ")"}
	var e *ignition.Error
	if errors.As(err, &e) {
		for _, p := range e.Problems {
			lines = append(lines, "  "+p.String())
		}
	} else {
		lines = append(lines, "  "+err.Error())
	}
	lines = append(lines, "nothing of it was applied; fix the config (imgbuild config validate) and boot again",
		contract.BannerRule)
	for _, l := range lines {
		s.logf("%s", l)
	}
	s.fatal(fmt.Errorf("per-machine config refused"))
}

// oemDevice finds the OEM partition on the disk ROOT is on; "" when that
// disk has none.
func oemDevice(cmdline string) (string, error) {
	root, _ := contract.Param(cmdline, contract.KeyRoot)
	uuid, ok := strings.CutPrefix(root, "PARTUUID=")
	if !ok {
		return "", nil // booted without our command line (tests)
	}
	parts, err := blockdev.Tree{Sys: "/sys/block", Dev: "/dev", SectorSize: blockdev.SectorSize}.Scan()
	if err != nil {
		return "", fmt.Errorf("oem: %w", err)
	}
	r, ok := parts[strings.ToLower(uuid)]
	if !ok {
		return "", fmt.Errorf("oem: no partition PARTUUID=%s", uuid)
	}
	for _, p := range parts {
		if p.Disk == r.Disk && p.Number == oemPartition {
			return p.Node, nil
		}
	}
	return "", nil
}

// machineHostname prefers /etc/hostname (the machine's, from its config)
// to the image's hostname.
func machineHostname(image string) (string, string) {
	b, err := os.ReadFile("/etc/hostname")
	if h := strings.TrimSpace(string(b)); err == nil && h != "" {
		return h, "/etc/hostname"
	}
	return image, "image"
}
