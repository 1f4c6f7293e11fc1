package ignition

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"ignition":{"version":"3.3.0"},
	  "passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA x"]}]},
	  "storage":{
	    "files":[{"path":"/etc/hostname","mode":420,"overwrite":true,"contents":{"source":"data:,m1"}},
	             {"path":"/etc/systemd/network/10-a.network","contents":{"source":"data:;base64,W01hdGNoXQ=="}},
	             {"path":"/etc/x","user":{"name":"core"},"group":{"id":0},"contents":{"source":"https://127.0.0.1/x"}}],
	    "directories":[{"path":"/var/lib/app","mode":448}],
	    "links":[{"path":"/etc/l","target":"/etc/x","hard":false}]}}`))
	f.Add([]byte(`{"ignition":{"version":"3.0.0"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			// sysinit tells a bad config (say why, boot without it)
			// from a failure to read one by this.
			if !IsConfigError(err) {
				t.Errorf("refusal is not a config error: %v", err)
			}
			return
		}
		if sum := sha256.Sum256(data); c.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256 %s is not of the bytes read", c.SHA256)
		}
		// imgbuild config validate reads the network files' data URLs.
		_, _ = c.FilesUnder("/etc/systemd/network")
	})
}
