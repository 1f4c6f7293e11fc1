// Command coredns is CoreDNS built with only the plugins a cluster
// needs: names under the cluster domain come from SkyDNS records in etcd
// (the etcd plugin), everything else is forwarded. The cache plugin is
// left out: it brings in CoreDNS's metrics plugin and with it a YAML
// library that build/ownbin keeps off images; etcd answers on the
// machine itself, and the records' TTL of 10 s lets clients cache.
// Upstream's full build carries every plugin (Kubernetes, cloud DNS
// APIs, ...) at about 100 MB; the external-build recipe CoreDNS
// documents is a main that imports the plugins it wants and sets
// dnsserver.Directives to them in plugin.cfg's order. It reads
// /etc/coredns/Corefile unless -conf says otherwise (docs/cluster.md).
package main

import (
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/etcd"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// Corefile is where the image or a machine config puts the server's
// configuration.
const Corefile = "/etc/coredns/Corefile"

// directives is plugin.cfg's order restricted to the plugins above: a
// request passes through them in this order whatever the Corefile's.
var directives = []string{
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"hosts",
	"etcd",
	"forward",
}

func init() { dnsserver.Directives = directives }

func main() {
	caddy.DefaultConfigFile = Corefile
	coremain.Run()
}
