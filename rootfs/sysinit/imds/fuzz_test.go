package imds

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// FuzzFetch answers a first boot's metadata reads with whatever a
// metadata service (or whoever answers at its address) might: what the
// machine takes must be a host name and OpenSSH keys, nothing else.
func FuzzFetch(f *testing.F) {
	it := items()
	f.Add(it["/latest/meta-data/hostname"], it["/latest/meta-data/public-keys/"], it["/latest/meta-data/public-keys/0/openssh-key"], it["/latest/user-data"])
	f.Add("a."+strings.Repeat("b", 70), "0/", "ecdsa-sha2-nistp256 AAAA= c\n\n", "")
	fake, srv := newFake(f, nil)
	c := fastClient(srv.URL)
	f.Fuzz(func(t *testing.T, host, list, key, userData string) {
		fake.mu.Lock()
		fake.items = map[string]string{"/latest/meta-data/hostname": host, "/latest/meta-data/public-keys/": list,
			"/latest/meta-data/public-keys/0/openssh-key": key, "/latest/user-data": userData}
		fake.requests = nil
		fake.mu.Unlock()
		md, err := c.Fetch(t.Context())
		if err != nil {
			return
		}
		if len(md.Hostname) > 64 || md.Hostname != "" && !validHost(md.Hostname) {
			t.Errorf("host name %q taken", md.Hostname)
		}
		for _, k := range md.Keys {
			if !sshKey.MatchString(k) || strings.Contains(k, "\n") {
				t.Errorf("key %q taken", k)
			}
		}
	})
}

func validHost(s string) bool {
	for _, l := range strings.Split(s, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// FuzzConfig reads user-data as sysinit does: gzipped or not, what it
// returns is bounded by maxBody however small the input.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"ignition":{"version":"3.4.0"}}`))
	f.Add([]byte("#!/bin/sh\necho cloud-init\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"ignition":{"version":"3.4.0"},"x":"` + strings.Repeat("a", 1000) + `"}`))
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := Config(data)
		if err == nil && len(raw) > maxBody {
			t.Errorf("%d bytes of config from %d of user-data", len(raw), len(data))
		}
	})
}
