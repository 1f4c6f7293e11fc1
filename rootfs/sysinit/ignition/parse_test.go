package ignition

import (
	"strings"
	"testing"
)

func TestParseRefusesByPath(t *testing.T) {
	for _, tc := range []struct {
		name, config, path string
	}{
		{"disks", `{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/vdb","wipeTable":true}]}}`, "$.storage.disks"},
		{"filesystems", `{"ignition":{"version":"3.4.0"},"storage":{"filesystems":[{"device":"/dev/vdb","format":"ext4"}]}}`, "$.storage.filesystems"},
		{"raid", `{"ignition":{"version":"3.4.0"},"storage":{"raid":[{"name":"md0","level":"raid1","devices":["/dev/a","/dev/b"]}]}}`, "$.storage.raid"},
		{"luks", `{"ignition":{"version":"3.4.0"},"storage":{"luks":[{"name":"x","device":"/dev/vdb"}]}}`, "$.storage.luks"},
		{"units", `{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"a.service","enabled":true}]}}`, "$.systemd"},
		{"groups", `{"ignition":{"version":"3.4.0"},"passwd":{"groups":[{"name":"ops"}]}}`, "$.passwd.groups"},
		{"passwordHash", `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","passwordHash":"$6$x"}]}}`, "$.passwd.users.0.passwordHash"},
		{"kernelArguments", `{"ignition":{"version":"3.4.0"},"kernelArguments":{"shouldExist":["quiet"]}}`, "$.kernelArguments"},
		{"append", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","append":[{"source":"data:,x"}]}]}}`, "$.storage.files.0.append"},
		{"compression", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"data:,x","compression":"gzip"}}]}}`, "$.storage.files.0.contents.compression"},
		{"merge", `{"ignition":{"version":"3.4.0","config":{"merge":[{"source":"http://127.0.0.1/x"}]}}}`, "$.ignition.config"},
		{"bad data URL", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"data:;base64,!!!"}}]}}`, "$.storage.files.0.contents.source"},
		{"unknown key", `{"ignition":{"version":"3.4.0"},"storage":{"filez":[]}}`, "$.storage.filez"},
		{"http without hash", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"http://127.0.0.1/a"}}]}}`, "$.storage.files.0.contents.verification.hash"},
		{"tftp", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"tftp://127.0.0.1/a"}}]}}`, "$.storage.files.0.contents.source"},
		{"usr", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/usr/bin/x","contents":{"source":"data:,x"}}]}}`, "$.storage.files.0.path"},
		{"relative path", `{"ignition":{"version":"3.4.0"},"storage":{"directories":[{"path":"etc/x"}]}}`, "$.storage.directories.0.path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.config))
			if err == nil {
				t.Fatalf("accepted %s", tc.config)
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			for _, p := range e.Problems {
				if p.Path == tc.path {
					return
				}
			}
			t.Fatalf("no problem at %s: %v", tc.path, err)
		})
	}
}

func TestParseAcceptsTheSupportedSubset(t *testing.T) {
	cfg := `{"ignition":{"version":"3.3.0"},
	  "passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA x"]}]},
	  "storage":{
	    "files":[{"path":"/etc/hostname","mode":420,"overwrite":true,"contents":{"source":"data:,m1"}},
	             {"path":"/etc/x","user":{"name":"core"},"group":{"id":0},
	              "contents":{"source":"https://127.0.0.1/x","verification":{"hash":"sha256-` + strings.Repeat("0", 64) + `"}}}],
	    "directories":[{"path":"/var/lib/app","mode":448}],
	    "links":[{"path":"/etc/l","target":"/etc/x","hard":false}]}}`
	c, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SHA256) != 64 || !c.needsNetwork() {
		t.Fatalf("sha %q needsNetwork %v", c.SHA256, c.needsNetwork())
	}
}

func TestParseRefusesExperimentalAndGarbage(t *testing.T) {
	for _, raw := range []string{``, `{`, `{"ignition":{"version":"3.6.0-experimental"}}`, `{"ignition":{"version":"2.3.0"}}`} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("accepted %q", raw)
		}
	}
}
