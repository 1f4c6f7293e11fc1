package contract

import (
	"fmt"
	"strings"
	"time"
)

// Register publishes a service in the cluster's DNS: the registrar
// (imgbuild-registrar) keeps a SkyDNS record for it in etcd while the
// service is healthy (docs/cluster.md).
type Register struct {
	Name string `json:"name"` // a DNS label: <name>.<ClusterDomain>
	Port int    `json:"port"`
}

// ServiceStateDir holds one file per registered service, named for the
// service, which sysinit's supervisor replaces atomically on each change
// of its state and the registrar reads. PID 1 publishes files rather
// than talking to etcd itself so that it need not link etcd's client.
const ServiceStateDir = "/run/imgbuild/services"

// ServiceStatusDir holds one NAME.json per service, of every service,
// for imgbuild-services (rootfs/servicestatus).
const ServiceStatusDir = "/run/imgbuild/status"

// A service's published state.
const (
	StateHealthy   = "healthy"   // running, and its health check (if any) passes
	StateUnhealthy = "unhealthy" // running, its health check not (yet) passing
	StateStopped   = "stopped"   // not running: exited, restarting or never started
)

// ClusterDomain is the DNS domain registered services live under, and
// SkyDNSPrefix the etcd key of its records (the domain's labels
// reversed under /skydns, as CoreDNS's etcd plugin reads them).
const (
	ClusterDomain = "cluster.internal"
	SkyDNSPrefix  = "/skydns/internal/cluster/"
)

// ServiceState is the content of one file in ServiceStateDir.
type ServiceState struct {
	State string
	Since time.Time // when the service entered State
}

// Format is the file's one line: the state and an RFC 3339 time.
func (s ServiceState) Format() []byte {
	return []byte(s.State + " " + s.Since.UTC().Format(time.RFC3339Nano) + "\n")
}

// ParseServiceState reads a file written by Format.
func ParseServiceState(data []byte) (ServiceState, error) {
	state, at, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	if !ok {
		return ServiceState{}, fmt.Errorf("service state %q: want \"STATE TIME\"", data)
	}
	switch state {
	case StateHealthy, StateUnhealthy, StateStopped:
	default:
		return ServiceState{}, fmt.Errorf("service state %q: unknown state %q", data, state)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return ServiceState{}, fmt.Errorf("service state %q: %w", data, err)
	}
	return ServiceState{State: state, Since: t}, nil
}
