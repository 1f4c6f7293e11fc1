package manifest

import (
	"strings"
	"testing"
)

const updateBase = `name: demo
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
disk:
  usr: 64MiB
update:
  server: http://10.0.2.2:8080/v1/update/
`

func TestFleetLock(t *testing.T) {
	m, err := Parse("demo.yaml", []byte(updateBase+"  reboot: fleetlock\n  fleetlock:\n    url: http://10.0.0.5:3333\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := m.Update.FleetLock; f == nil || f.URL != "http://10.0.0.5:3333" || f.Group != "default" {
		t.Errorf("fleetlock = %+v, want the URL and group default", f)
	}
	m, err = Parse("demo.yaml", []byte(updateBase+"  reboot: fleetlock\n  fleetlock: {url: \"https://lock/\", group: etcd}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Update.FleetLock.Group != "etcd" {
		t.Errorf("group = %q, want etcd", m.Update.FleetLock.Group)
	}
}

func TestFleetLockErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"url missing", "  reboot: fleetlock\n", `demo.yaml:9:3: update.reboot: fleetlock needs update.fleetlock.url`},
		{"url required", "  reboot: fleetlock\n  fleetlock: {group: etcd}\n", `missing required field "url"`},
		{"url not http", "  reboot: fleetlock\n  fleetlock:\n    url: ftp://lock\n", `demo.yaml:11:5: update.fleetlock.url "ftp://lock": want an http(s) URL`},
		{"url no host", "  reboot: fleetlock\n  fleetlock:\n    url: http://\n", `demo.yaml:11:5: update.fleetlock.url "http://": want an http(s) URL`},
		{"bad group", "  reboot: fleetlock\n  fleetlock:\n    url: http://lock\n    group: Etcd/1\n", `demo.yaml:12:5: update.fleetlock.group "Etcd/1": use lower case`},
		{"without fleetlock reboot", "  fleetlock:\n    url: http://lock\n", `demo.yaml:9:3: update.fleetlock: set only with update.reboot: fleetlock (reboot is immediate)`},
		{"reboot off", "  reboot: \"off\"\n  fleetlock:\n    url: http://lock\n", `(reboot is off)`},
		{"unknown field", "  reboot: fleetlock\n  fleetlock:\n    url: http://lock\n    grop: x\n", `demo.yaml:12:5: unknown field "grop"`},
		{"bad reboot", "  reboot: later\n", `demo.yaml:9:3: update.reboot "later": want immediate, fleetlock or off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("demo.yaml", []byte(updateBase+tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	noServer := strings.Replace(updateBase, "  server: http://10.0.2.2:8080/v1/update/\n", "", 1)
	_, err := Parse("demo.yaml", []byte(noServer+"  reboot: fleetlock\n  fleetlock: {url: \"http://lock\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "update.fleetlock: no update.server") {
		t.Errorf("no server: err = %v", err)
	}
}
