package cli

import (
	"net/url"
	"strings"
	"testing"
)

// networkConfig is a config whose storage.files carry .network files
// (path: content), after an /etc/hostname entry.
func networkConfig(t *testing.T, files ...string) string {
	t.Helper()
	entries := []string{`{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,m1"}}`}
	for i := 0; i+1 < len(files); i += 2 {
		entries = append(entries, `{"path":"`+files[i]+`","contents":{"source":"data:,`+url.PathEscape(files[i+1])+`"}}`)
	}
	return writeConfig(t, `{"ignition":{"version":"3.4.0"},"storage":{"files":[`+strings.Join(entries, ",")+`]}}`)
}

func TestConfigValidateNetworkFiles(t *testing.T) {
	good := networkConfig(t,
		"/etc/systemd/network/10-seg.network", "[Match]\nMACAddress=52:54:00:ab:00:01\n\n[Network]\nAddress=10.77.0.1/24\nDNS=10.77.0.53\n",
		"/etc/systemd/network/README", "anything: not a networkd file")
	if code, out := run(t, "config", "validate", good); code != ExitOK {
		t.Fatalf("good .network file refused: exit %d\n%s", code, out)
	}
	bad := networkConfig(t,
		"/etc/systemd/network/10-seg.network", "[Match]\nMACAddress=52:54:00:ab:00:01\n\n# typo below\n[Network]\nAdress=10.77.0.1/24\n",
		"/etc/systemd/network/20-bond.netdev", "[NetDev]\nName=bond0\n",
		"/etc/systemd/network/30-x.network", "[Link]\nMTUBytes=9000\n")
	code, out := run(t, "config", "validate", bad)
	if code != ExitFailure {
		t.Fatalf("bad .network files: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		bad + ": $.storage.files.1.contents.source: /etc/systemd/network/10-seg.network:6: [Network] Adress=: unknown key (did you mean Address?)",
		bad + ": $.storage.files.2.contents.source: /etc/systemd/network/20-bond.netdev: only .network files are applied",
		bad + ": $.storage.files.3.contents.source: /etc/systemd/network/30-x.network:1: [Link]: section not supported",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// run and oem check configs the same way before passing one on.
	if _, err := readConfig(bad); err == nil || !strings.Contains(err.Error(), "Adress=") {
		t.Errorf("readConfig of the bad config: %v", err)
	}
}
