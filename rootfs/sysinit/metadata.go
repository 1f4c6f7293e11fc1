package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/imds"
)

// instanceMetadata reads the platform's metadata service at most once a
// boot, when the config sources or the first-boot identity need it.
type instanceMetadata struct {
	s   *sysinit
	net *netState
	// root is the machine's / (a directory in tests); client is the
	// IMDS client to use, its HTTP from net.
	root   string
	client imds.Client
	once   sync.Once
	md     *imds.Metadata
	err    error
}

// platformMetadata returns the metadata service of the platform the
// image was built for, or nil: only images built with --target aws
// carry contract.PlatformFile, so a QEMU machine never probes
// 169.254.169.254.
func (s *sysinit) platformMetadata(net *netState) *instanceMetadata {
	b, err := os.ReadFile(contract.PlatformFile)
	if err != nil {
		if !os.IsNotExist(err) {
			s.logf("platform: %v", err)
		}
		return nil
	}
	switch p := strings.TrimSpace(string(b)); p {
	case contract.PlatformAWS:
		return &instanceMetadata{s: s, net: net, root: "/"}
	default:
		s.logf("platform %q: no metadata service known for it", p)
		return nil
	}
}

// get fetches the metadata the first time it is asked for, saying in
// one line what it read or why it could not.
func (m *instanceMetadata) get(ctx context.Context) (*imds.Metadata, error) {
	m.once.Do(func() {
		start := time.Now()
		client := m.net.client(ctx)
		if client == nil {
			m.err = errors.New("no network")
		} else {
			c := m.client
			c.HTTP = client
			m.md, m.err = c.Fetch(ctx)
		}
		if m.err != nil {
			m.s.logf("instance metadata unavailable: %v; booting without it", m.err)
			return
		}
		m.s.logf("instance metadata: hostname %q, %d SSH keys, %d bytes of user-data (%.2fs)",
			m.md.Hostname, len(m.md.Keys), len(m.md.UserData), time.Since(start).Seconds())
	})
	return m.md, m.err
}

// userData is the ignition.UserData source: the metadata's user-data
// when it is an Ignition config. Neither an unreachable service nor
// user-data of another kind (a script) stops the boot: each is a line
// on the console and the machine boots without a config.
func (m *instanceMetadata) userData() *ignition.Source {
	return &ignition.Source{Name: "EC2 instance metadata user-data", NeedsNetwork: true,
		Read: func(ctx context.Context, _ *http.Client) ([]byte, error) {
			md, err := m.get(ctx)
			if err != nil || md.UserData == nil {
				return nil, nil
			}
			raw, err := imds.Config(md.UserData)
			if err != nil {
				m.s.logf("%v; ignored", err)
				return nil, nil
			}
			return raw, nil
		}}
}

// apply gives the machine the metadata's SSH keys and hostname once,
// after the per-machine config (whose hostname wins).
func (m *instanceMetadata) apply(ctx context.Context) {
	if done, err := imds.Done(m.root); err != nil || done {
		if err != nil {
			m.s.logf("%v", err)
		} else {
			m.s.logf("instance metadata (hostname, SSH keys) was applied on an earlier boot; not read again")
		}
		return
	}
	md, err := m.get(ctx)
	if err != nil {
		return // said already; the next boot tries again
	}
	a, err := imds.Apply(m.root, md)
	if err != nil {
		m.s.logf("instance metadata not applied: %v; booting without it", err)
		return
	}
	host := "kept the config's /etc/hostname"
	if a.Hostname != "" {
		host = "hostname " + a.Hostname
	}
	m.s.logf("instance metadata applied: %d new SSH keys for %s, %s", a.Keys, a.User, host)
}
