package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `name: demo
version: 1.0.0
kernel:
  package: linux-image-cloud-amd64
  modules: [virtio_net]
binaries:
  - name: busybox
    deb: busybox-static
    path: /bin/busybox
    links: [sh]
files:
  - path: /etc/motd
    content: hi
    mode: 0640
services:
  - name: web
    command: /usr/bin/busybox
    args: [httpd, -f]
    health: {http: "http://127.0.0.1:80/"}
  - name: late
    command: /usr/bin/sh
    after: [web]
disk:
  usr: 64MiB
`

func TestParseGood(t *testing.T) {
	m, err := Parse("demo.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hostname != "demo" || m.Disk.USR != 64<<20 || m.Disk.ESP != 96<<20 {
		t.Errorf("defaults: hostname %q usr %v esp %v", m.Hostname, m.Disk.USR, m.Disk.ESP)
	}
	if m.Arch != "amd64" {
		t.Errorf("arch default = %q, want amd64", m.Arch)
	}
	if m.USR.Compression != "zstd" || m.USR.Level != 19 {
		t.Errorf("usr defaults: %+v, want zstd level 19", m.USR)
	}
	if m.Files[0].Mode != 0o640 {
		t.Errorf("mode = %o, want 640", m.Files[0].Mode)
	}
	if s := m.Services[0]; s.Restart != "always" || s.Health.Interval == 0 {
		t.Errorf("service defaults not applied: %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, edit, replace, want string
	}{
		{"unknown field", "    content: hi\n", "    contnet: hi\n", `demo.yaml:13:5: unknown field "contnet" in files[0] (did you mean "content"?)`},
		{"missing required", "name: demo\n", "", `demo.yaml:1:1: the manifest: missing required field "name"`},
		{"bad size", "usr: 64MiB", "usr: 64MB", `demo.yaml:24:8: disk.usr: bad size "64MB"`},
		{"size not MiB", "usr: 64MiB", "usr: 1000", `demo.yaml:24:3: disk.usr: 1000 bytes is not a whole number of MiB`},
		{"duplicate path", "    content: hi\n", "    content: hi\n  - path: /etc/motd\n", `demo.yaml:14:5: duplicate path /etc/motd (also given by files[0])`},
		{"path clashes with binary", "/etc/motd", "/usr/bin/sh", `duplicate path /usr/bin/sh (also given by a binary)`},
		{"duplicate key", "version: 1.0.0\n", "version: 1.0.0\nversion: 2\n", `demo.yaml:3:1: field "version" appears twice in the manifest`},
		{"bad mode", "mode: 0640", "mode: 0980", `demo.yaml:14:11: files[0].mode: bad mode "0980"`},
		{"owner shape", "mode: 0640", "mode: 0640\n    owner: root", `demo.yaml:15:5: file /etc/motd: owner "root": want uid:gid such as 0:0`},
		{"uid out of range", "mode: 0640", "mode: 0640\n    owner: \"4294967296:0\"", `demo.yaml:15:5: file /etc/motd: owner "4294967296:0": uid 4294967296 is out of range (0 to 4294967294)`},
		{"gid out of range", "mode: 0640", "mode: 0640\n    owner: \"0:99999999999999999999\"", `demo.yaml:15:5: file /etc/motd: owner "0:99999999999999999999": gid 99999999999999999999 is out of range (0 to 4294967294)`},
		{"uid -1", "mode: 0640", "mode: 0640\n    owner: \"4294967295:0\"", `uid 4294967295 is out of range`},
		{"wrong shape", "args: [httpd, -f]", "args: httpd", `demo.yaml:18:11: services[0].args: want a list`},
		{"after unknown", "after: [web]", "after: [db]", `demo.yaml:22:13: service late: after names "db"`},
		{"two sources", "    path: /bin/busybox\n", "    path: /bin/busybox\n    local: ./bb\n", `demo.yaml:7:5: binary "busybox": set exactly one of go, deb, local or own`},
		{"agent's name", "    links: [sh]\n", "    links: [sh, imgbuild-agent]\n", `/usr/bin/imgbuild-agent is given twice (also by imgbuild's update agent)`},
		{"own unknown", "    path: /bin/busybox\n", "    path: /bin/busybox\n  - name: lockd\n    own: lockd\n", `demo.yaml:11:5: binary "lockd": own "lockd": imgbuild carries fleetlockd, coredns, imgbuild-registrar`},
		{"health both", `{http: "http://127.0.0.1:80/"}`, `{http: "http://127.0.0.1:80/", tcp: 80}`, `health needs exactly one of tcp or http`},
		{"bad restart", "after: [web]", "after: [web]\n    restart: sometimes", `demo.yaml:23:5: service late: restart "sometimes"`},
		{"cycle", "    args: [httpd, -f]\n", "    args: [httpd, -f]\n    after: [late]\n", `cycle: web -> late -> web`},
		{"bad int", "usr: 64MiB", "usr: 64MiB\nrun:\n  forwards: [{host: x, guest: 80}]", `run.forwards[0].host: want a whole number, got "x"`},
		{"yaml syntax", "kernel:\n", "kernel:\n\t", `demo.yaml: `},
		{"version not semver", "version: 1.0.0\n", "version: \"1.0\"\n", `demo.yaml:2:1: version: "1.0" is not a semantic version`},
		{"version with v", "version: 1.0.0\n", "version: v1.0.0\n", `demo.yaml:2:1: version: "v1.0.0" is not a semantic version`},
		{"update reboot", "usr: 64MiB", "usr: 64MiB\nupdate:\n  reboot: later", `demo.yaml:26:3: update.reboot "later": want immediate, fleetlock or off`},
		{"update pin", "usr: 64MiB", "usr: 64MiB\nupdate:\n  pin: latest", `demo.yaml:26:3: update.pin: "latest" is not a semantic version`},
		{"usr compression", "usr: 64MiB", "usr: 64MiB\nusr:\n  compression: lz4", `demo.yaml:26:3: usr.compression "lz4": want zstd or xz`},
		{"usr level", "usr: 64MiB", "usr: 64MiB\nusr:\n  level: 23", `demo.yaml:26:3: usr.level 23: zstd's levels are 1-22`},
		{"usr xz level", "usr: 64MiB", "usr: 64MiB\nusr:\n  compression: xz\n  level: 9", `demo.yaml:27:3: usr.level: xz has no levels`},
		{"cmdline names a slot", "modules: [virtio_net]", "modules: [virtio_net]\n  cmdline: [quiet, imgbuild.slot=b]", `demo.yaml:6:20: kernel.cmdline entry "imgbuild.slot=b"`},
		{"cmdline sets verity", "modules: [virtio_net]", "modules: [virtio_net]\n  cmdline: [imgbuild.verity=00]", `demo.yaml:6:13: kernel.cmdline entry "imgbuild.verity=00"`},
		{"cmdline with a space", "modules: [virtio_net]", "modules: [virtio_net]\n  cmdline: [\"a b\"]", `demo.yaml:6:13: kernel.cmdline entry "a b"`},
		{"register not a label", "args: [httpd, -f]\n", "args: [httpd, -f]\n    register: {name: Web, port: 80}\n", `demo.yaml:19:16: service web: register.name "Web" is not a DNS label`},
		{"register port", "args: [httpd, -f]\n", "args: [httpd, -f]\n    register: {name: web, port: 0}\n", `demo.yaml:19:27: service web: register.port 0 is not a port (1-65535)`},
		{"capability unknown", "args: [httpd, -f]\n", "args: [httpd, -f]\n    capabilities: [NET_BIND_SERVICE, FLY]\n", `demo.yaml:19:5: service web: capabilities FLY: not Linux capabilities`},
		{"memory limit tiny", "args: [httpd, -f]\n", "args: [httpd, -f]\n    limits: {memory: 4KiB}\n", `service web: limits.memory 4096: want at least 1MiB`},
		{"pids limit", "args: [httpd, -f]\n", "args: [httpd, -f]\n    limits: {pids: 1}\n", `service web: limits.pids 1: want at least 2`},
		{"seccomp unknown", "args: [httpd, -f]\n", "args: [httpd, -f]\n    seccomp: strict\n", `demo.yaml:19:5: service web: seccomp "strict": want default or unconfined`},
		{"writable without read_only", "args: [httpd, -f]\n", "args: [httpd, -f]\n    writable: [/var/lib/web]\n", `demo.yaml:19:5: service web: writable needs read_only: true`},
		{"writable relative", "args: [httpd, -f]\n", "args: [httpd, -f]\n    read_only: true\n    writable: [/var/lib/web, var/x]\n", `demo.yaml:20:30: service web: writable "var/x": want a clean absolute path`},
		{"writable usr", "args: [httpd, -f]\n", "args: [httpd, -f]\n    read_only: true\n    writable: [/usr/share]\n", `service web: writable "/usr/share": / and /usr cannot be`},
		{"writable below tmp", "args: [httpd, -f]\n", "args: [httpd, -f]\n    read_only: true\n    writable: [/tmp/web]\n", `below the service's private /tmp`},
		{"logs too big", "usr: 64MiB", "usr: 64MiB\nlogs: {size: 1GiB}", `logs.size: 1GiB is more than half of ROOT`},
		{"register no port", "args: [httpd, -f]\n", "args: [httpd, -f]\n    register: {name: web}\n", `missing required field "port"`},
		{"register twice", "  - name: late\n", "    register: {name: www, port: 80}\n  - name: late\n    register: {name: www, port: 81}\n", `demo.yaml:22:16: service late: register.name "www" is also service web's`},
		{"arch unknown", "version: 1.0.0\n", "version: 1.0.0\narch: x86_64\n", `demo.yaml:3:1: arch "x86_64": want one of amd64, arm64`},
		{"update server", "usr: 64MiB", "usr: 64MiB\nupdate:\n  server: ftp://x/", `demo.yaml:26:3: update.server "ftp://x/": want an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(good, tt.edit, tt.replace, 1)
			if src == good {
				t.Fatalf("edit %q did not apply", tt.edit)
			}
			_, err := Parse("demo.yaml", []byte(src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestShippedManifests(t *testing.T) {
	paths, _ := filepath.Glob("../manifests/*.yaml")
	if len(paths) < 2 {
		t.Fatalf("found %d shipped manifests", len(paths))
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Error(err)
		}
	}
}

func TestLockRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := &Lock{SourceDateEpoch: 1700000000, GoToolchain: "go1.26.8", Debs: map[string]DebPin{
		"busybox-static": {Package: "busybox-static", Version: "1:1.35.0-4", Arch: "amd64", SHA256: strings.Repeat("a", 64)},
	}}
	p := filepath.Join(dir, "x.lock")
	if err := l.Save(p); err != nil {
		t.Fatal(err)
	}
	got, err := LoadLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(l) {
		t.Errorf("round trip changed the lock: %+v", got)
	}
	if missing, err := LoadLock(filepath.Join(dir, "none.lock")); missing != nil || err != nil {
		t.Errorf("missing lock: %v, %v", missing, err)
	}
	os.WriteFile(p, []byte("debs: {}\nbogus: 1\n"), 0o644)
	if _, err := LoadLock(p); err == nil || !strings.Contains(err.Error(), "x.lock:2:1: unknown field \"bogus\"") {
		t.Errorf("bad lock error = %v", err)
	}
}

func TestParseNetwork(t *testing.T) {
	m, err := Parse("demo.yaml", []byte(strings.Replace(good, "    after: [web]\n", "    after: [web]\n    network: true\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Services[0].Network || !m.Services[1].Network {
		t.Errorf("network: web %v (want the default false), late %v (want true)", m.Services[0].Network, m.Services[1].Network)
	}
	if _, err := Parse("demo.yaml", []byte(strings.Replace(good, "    after: [web]\n", "    after: [web]\n    network: later\n", 1))); err == nil || !strings.Contains(err.Error(), "demo.yaml:") {
		t.Errorf("network: later = %v, want an error naming the file and line", err)
	}
}

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// appService is good with a container service in place of late.
var appService = strings.Replace(good, "  - name: late\n    command: /usr/bin/sh\n    after: [web]\n",
	"  - name: app\n    image: oci-app@"+digest+"\n    after: [web]\n", 1)

func TestParseImage(t *testing.T) {
	if appService == good {
		t.Fatal("edit did not apply")
	}
	m, err := Parse("demo.yaml", []byte(appService))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Services[1]
	if s.Image != "oci-app@"+digest || s.Command != "" || s.NetworkMode != "host" {
		t.Errorf("app = %+v, want the image, no command, network_mode host", s)
	}
	r, err := ParseImageRef(s.Image)
	if err != nil || r.Registry || r.Path("/m/demo.yaml") != "/m/oci-app" || r.Digest != digest {
		t.Errorf("ref = %+v (path %q), %v", r, r.Path("/m/demo.yaml"), err)
	}
	full := strings.Replace(appService, "    after: [web]\n", "    after: [web]\n    command: /bin/app\n    workdir: /srv\n    network_mode: none\n    state: {dir: /var/lib/app, mount: /data}\n", 1)
	m, err = Parse("demo.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Services[1]; s.Workdir != "/srv" || s.NetworkMode != "none" || s.State == nil || s.State.Dir != "/var/lib/app" || s.State.Mount != "/data" {
		t.Errorf("app = %+v", s)
	}
}

func TestParseImageRef(t *testing.T) {
	for _, tt := range []struct {
		in       string
		registry bool
		err      string
	}{
		{"oci-app@" + digest, false, ""},
		{"images/app.tar@" + digest, false, ""},
		{"./ghcr.io/app@" + digest, false, ""},
		{"ghcr.io/me/app@" + digest, true, ""},
		{"localhost:5000/app@" + digest, true, ""},
		{"localhost/app@" + digest, true, ""},
		{"ghcr.io/me/app:1.0", false, "name the image by digest"},
		{"ghcr.io/me/app:1.0@" + digest, false, `registry reference "ghcr.io/me/app:1.0" has a tag: give the digest alone, ghcr.io/me/app@sha256:`},
		{"localhost:5000/app:v1@" + digest, false, `give the digest alone, localhost:5000/app@`},
		{"oci-app@sha256:abc", false, `digest "sha256:abc": want sha256:<64 lower-case hex digits>`},
		{"oci-app@sha512:" + strings.Repeat("0", 128), false, `want sha256:`},
		{"@" + digest, false, "nothing before @"},
	} {
		r, err := ParseImageRef(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
		case err == nil && r.Registry != tt.registry:
			t.Errorf("%s: registry = %v, want %v", tt.in, r.Registry, tt.registry)
		}
	}
}

func TestParseImageErrors(t *testing.T) {
	img := "    image: oci-app@" + digest + "\n"
	for _, tt := range []struct{ name, edit, replace, want string }{
		{"neither command nor image", "    image: oci-app@" + digest + "\n", "", `demo.yaml:20:5: services[1]: missing field "command" (required unless "image" is set)`},
		{"tag without digest", img, "    image: ghcr.io/me/app:1.0\n", `demo.yaml:21:5: service app: image "ghcr.io/me/app:1.0": name the image by digest`},
		{"short digest", img, "    image: oci-app@sha256:00\n", `demo.yaml:21:5: service app: image "oci-app@sha256:00": digest "sha256:00"`},
		{"relative workdir", img, img + "    workdir: app\n", `demo.yaml:22:5: service app: workdir "app": want a clean absolute path`},
		{"network mode", img, img + "    network_mode: bridge\n", `demo.yaml:22:5: service app: network_mode "bridge": want host`},
		{"state on usr", img, img + "    state: {dir: /usr/lib/app, mount: /data}\n", `demo.yaml:22:13: service app: state.dir "/usr/lib/app": want a clean absolute path on ROOT`},
		{"state at root", img, img + "    state: {dir: /var/lib/app, mount: /}\n", `demo.yaml:22:32: service app: state.mount "/": want a clean absolute path inside the container`},
		{"state at proc", img, img + "    state: {dir: /var/lib/app, mount: /proc/x}\n", `state.mount "/proc/x"`},
		{"state without mount", img, img + "    state: {dir: /var/lib/app}\n", `demo.yaml:22:12: services[1].state: missing required field "mount"`},
		{"console", img, img + "    console: true\n", `demo.yaml:22:5: service app: console: a container service has no terminal`},
		{"workdir without image", "    command: /usr/bin/busybox\n", "    command: /usr/bin/busybox\n    workdir: /srv\n", `service web: workdir is only used with image`},
		{"state without image", "    command: /usr/bin/busybox\n", "    command: /usr/bin/busybox\n    state: {dir: /var/lib/x, mount: /x}\n", `service web: state is only used with image`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(appService, tt.edit, tt.replace, 1)
			if src == appService {
				t.Fatalf("edit %q did not apply", tt.edit)
			}
			_, err := Parse("demo.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestLockImages(t *testing.T) {
	l := &Lock{Images: map[string]ImagePin{"app": {Image: "oci-app@" + digest, Digest: digest, Config: digest}}}
	data, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseLock("x.lock", data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(l) || got.Images["app"].Digest != digest {
		t.Errorf("round trip: %+v", got.Images)
	}
}
