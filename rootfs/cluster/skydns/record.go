// Package skydns keeps a machine's services in the cluster's DNS: SkyDNS
// records in etcd, which CoreDNS's etcd plugin answers from
// (rootfs/cluster/dns). A Keeper puts a record for each registered
// service while sysinit's state file says it is healthy and deletes it
// when it is not; every record hangs on one lease the Keeper keeps
// alive, so a machine that dies loses its records a TTL later.
package skydns

import (
	"encoding/json"
	"fmt"

	"github.com/imgbuild/imgbuild/contract"
)

// Record is the value of a SkyDNS key: an address record (A or AAAA by
// the address's family) and the port an SRV query answers.
type Record struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TTL  uint32 `json:"ttl"`
}

// RecordTTL is the TTL resolvers get: short, since a record goes the
// moment its service is unhealthy.
const RecordTTL = 10

// Key is the record of service name on machine host:
// NAME.cluster.internal holds one such key per machine.
func Key(name, host string) string { return contract.SkyDNSPrefix + name + "/" + host }

// Value encodes the record of a service on port at address.
func Value(address string, port int) string {
	b, err := json.Marshal(Record{Host: address, Port: port, TTL: RecordTTL})
	if err != nil {
		panic(fmt.Sprintf("skydns: %v", err)) // a struct of strings and ints always encodes
	}
	return string(b)
}
