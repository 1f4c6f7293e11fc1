// Package manifest reads and validates an image manifest (manifests/*.yaml)
// and its lock file. Decoding is strict: every error names the file, line
// and column of the offending field.
package manifest

// Manifest is one image description.
type Manifest struct {
	Name     string    `yaml:"name" required:"true" doc:"Image name: lower case letters, digits and dashes."`
	Version  string    `yaml:"version" required:"true" doc:"Image version, a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE]), e.g. 1.0.0: updates only go to newer versions."`
	Hostname string    `yaml:"hostname" doc:"Host name set at boot; defaults to name."`
	Arch     string    `yaml:"arch" doc:"CPU architecture of the image, as Go and Debian name it: amd64 (default) or arm64."`
	Kernel   Kernel    `yaml:"kernel" required:"true" doc:"Kernel and modules."`
	Binaries []Binary  `yaml:"binaries" doc:"Programs installed in /usr/bin."`
	Files    []File    `yaml:"files" doc:"Files and symlinks placed in the image."`
	Services []Service `yaml:"services" doc:"Processes that sysinit starts and supervises."`
	Disk     Disk      `yaml:"disk" doc:"Partition sizes."`
	USR      USR       `yaml:"usr" doc:"How the USR filesystem (the update payload) is compressed."`
	Run      Run       `yaml:"run" doc:"Settings for imgbuild run and the QEMU tests."`
	Security Security  `yaml:"security" doc:"Release signing: the keys stage-1 trusts, and whether an unsigned build may boot."`
	Update   Update    `yaml:"update" doc:"How the running system updates itself (the update agent); absent: no agent runs."`
	SSH      *SSH      `yaml:"ssh" doc:"An SSH server (public keys only) run as the service sshd; the per-machine config can add keys."`
	Logs     Logs      `yaml:"logs" doc:"The journal: every service's output and sysinit's lines as JSON lines on ROOT, kept across reboots and rollbacks (imgbuild logs reads it)."`

	// File is the path the manifest was read from; relative paths in the
	// manifest are relative to its directory.
	File string `yaml:"-"`
	pos  positions
}

// Kernel selects the kernel: a Debian package, or a local bzImage with a
// modules directory.
type Kernel struct {
	Package    string   `yaml:"package" doc:"Debian package, e.g. linux-image-cloud-amd64 (a metapackage is followed to the real kernel package)."`
	Path       string   `yaml:"path" doc:"Local bzImage instead of a package."`
	ModulesDir string   `yaml:"modules_dir" doc:"With path: the lib/modules/<release> directory."`
	Modules    []string `yaml:"modules" doc:"Extra modules to load at boot; their dependencies come along."`
	Cmdline    []string `yaml:"cmdline" doc:"Additions to the kernel command line."`
}

// Binary is one program for /usr/bin. Exactly one of Go, Deb or Local is set.
type Binary struct {
	Name    string   `yaml:"name" required:"true" doc:"Installed as /usr/bin/<name>."`
	Go      string   `yaml:"go" doc:"Go package (main) to build from source, e.g. go.etcd.io/etcd/server/v3."`
	Version string   `yaml:"version" doc:"With go: the module version to build, e.g. v3.6.16."`
	Deb     string   `yaml:"deb" doc:"Debian package to take the file from, e.g. busybox-static."`
	Path    string   `yaml:"path" doc:"With deb: the file's path inside the package, e.g. /bin/busybox."`
	Local   string   `yaml:"local" doc:"A file on the build host, relative to the manifest."`
	Own     string   `yaml:"own" doc:"One of imgbuild's own optional programs, carried inside imgbuild: fleetlockd (the FleetLock reboot-lock server over etcd), coredns (CoreDNS with its etcd plugin) or imgbuild-registrar (DNS records in etcd for registered services); docs/cluster.md."`
	Links   []string `yaml:"links" doc:"Extra names in /usr/bin that link to this binary (e.g. sh for busybox)."`
}

// File is a file or symlink in the image. Paths outside /usr are kept in
// /usr/share/factory and copied into place at every boot.
type File struct {
	Path    string `yaml:"path" required:"true" doc:"Absolute path in the booted system."`
	Content string `yaml:"content" doc:"Literal content."`
	Source  string `yaml:"source" doc:"A file on the build host, relative to the manifest."`
	Symlink string `yaml:"symlink" doc:"Make a symlink to this target instead of a file."`
	Mode    Mode   `yaml:"mode" doc:"Permission bits in octal, e.g. 0644 (default) or 04755."`
	Owner   string `yaml:"owner" doc:"uid:gid, default 0:0."`
}

// Service is a supervised process: a program on the image (command), or
// a container image (image) whose tree goes onto USR at build time and
// which sysinit runs in namespaces of its own (docs/apps.md). A
// requiredUnless tag, read by the decoder and the schema, makes a field
// required unless the one it names is set.
type Service struct {
	Name         string            `yaml:"name" required:"true" doc:"Service name; prefixes its console output."`
	Command      string            `yaml:"command" requiredUnless:"image" doc:"Absolute path of the program in the booted system; required unless image is set, and then it replaces the image's entrypoint (and its cmd, unless args is set)."`
	Args         []string          `yaml:"args" doc:"Arguments; with image: replace the image's cmd."`
	Env          map[string]string `yaml:"env" doc:"Environment variables; with image: added to the image's, replacing those of the same name."`
	User         string            `yaml:"user" doc:"uid[:gid] or a user name from /etc/passwd (with image: the image's /etc/passwd); default root, with image the image's user."`
	Image        string            `yaml:"image" doc:"A container image by digest, REF@sha256:DIGEST: REF is a registry reference (registry.example/repo) or a path relative to the manifest of an OCI image layout directory or a docker-archive tarball; its linux/amd64 image becomes the service's root (docs/apps.md)."`
	Workdir      string            `yaml:"workdir" doc:"With image: the working directory inside the container, replacing the image's."`
	State        *State            `yaml:"state" doc:"With image: a writable directory on ROOT mounted into the container, which is otherwise read-only."`
	NetworkMode  string            `yaml:"network_mode" doc:"With image: host (default), the machine's network; none, a network namespace of its own with only loopback."`
	Restart      string            `yaml:"restart" doc:"always (default), on-failure or never."`
	Backoff      Backoff           `yaml:"backoff" doc:"Restart delay: doubles from initial up to max."`
	Health       *Health           `yaml:"health" doc:"Readiness check; the image is healthy when every check passes."`
	After        []string          `yaml:"after" doc:"Services that must be healthy before this one starts."`
	Console      bool              `yaml:"console" doc:"Run on the serial console as its terminal (an interactive shell)."`
	Network      bool              `yaml:"network" doc:"Start only once DHCP has configured the network (or given up). Default false: the service starts while DHCP runs."`
	Register     *Register         `yaml:"register" doc:"Publish the service in the cluster's DNS (NAME.cluster.internal) while it is healthy; needs the imgbuild-registrar program (docs/cluster.md)."`
	Limits       Limits            `yaml:"limits" doc:"cgroup v2 limits of the service's group (/sys/fs/cgroup/services/NAME); default none, with image pids 4096."`
	Capabilities []string          `yaml:"capabilities" doc:"The capabilities the service keeps, e.g. [NET_BIND_SERVICE]; [] drops all. Default: all for a command, Podman's default set for an image (docs/manifest.md)."`
	NoNewPrivs   *bool             `yaml:"no_new_privs" doc:"Set no_new_privs: setuid binaries and file capabilities grant nothing. Default false for a command, true for an image."`
	Seccomp      string            `yaml:"seccomp" doc:"default: refuse loading modules, mounts, new namespaces, ptrace, the keyring, setting the clock, io_uring and BPF (docs/manifest.md); unconfined: no filter. Default unconfined for a command, default for an image."`
	ReadOnly     bool              `yaml:"read_only" doc:"A command sees the whole system read-only but for /dev, /proc, a private /tmp and the writable paths (an image's root is read-only anyway)."`
	Writable     []string          `yaml:"writable" doc:"With read_only: absolute paths that stay writable, e.g. /var/lib/etcd; created if missing. /tmp shares the machine's instead of a private one."`
}

// Limits are a service's cgroup v2 limits; zero is none.
type Limits struct {
	Memory Size    `yaml:"memory" doc:"memory.max, e.g. 64MiB: past it the kernel reclaims, then kills the service (it restarts per its policy); no swap beyond it."`
	CPU    float64 `yaml:"cpu" doc:"cpu.max as CPUs, e.g. 0.5 for half of one."`
	Pids   int     `yaml:"pids" doc:"pids.max: processes and threads at once; a fork bomb stops there."`
}

// State is a container service's writable directory: kept on ROOT, so it
// survives reboots and updates, which replace the image's tree.
type State struct {
	Dir   string `yaml:"dir" required:"true" doc:"The directory on ROOT, e.g. /var/lib/web; created on first start, owned by the service's user."`
	Mount string `yaml:"mount" required:"true" doc:"Where the service sees it, an absolute path inside the container, e.g. /data."`
}

// Register names a service in the cluster's DNS.
type Register struct {
	Name string `yaml:"name" required:"true" doc:"A DNS label: lower case letters, digits and inner dashes, at most 63."`
	Port int    `yaml:"port" required:"true" doc:"The port the service listens on, 1-65535 (the SRV record's port)."`
}

// Backoff is a restart delay policy.
type Backoff struct {
	Initial Duration `yaml:"initial" doc:"First restart delay, default 1s."`
	Max     Duration `yaml:"max" doc:"Longest restart delay, default 30s."`
}

// Health is a readiness check. Exactly one of TCP or HTTP is set.
type Health struct {
	TCP      int      `yaml:"tcp" doc:"A TCP port on 127.0.0.1 that must accept connections."`
	HTTP     string   `yaml:"http" doc:"A URL that must answer 2xx."`
	Interval Duration `yaml:"interval" doc:"Time between checks, default 1s."`
	Timeout  Duration `yaml:"timeout" doc:"Time one check may take, default 2s."`
}

// Disk sets partition sizes.
type Disk struct {
	ESP  Size `yaml:"esp" doc:"EFI system partition, default 96MiB."`
	USR  Size `yaml:"usr" doc:"Each USR slot (A and B), default 256MiB."`
	OEM  Size `yaml:"oem" doc:"OEM partition, default 16MiB."`
	Root Size `yaml:"root" doc:"ROOT at build time, default 256MiB; it grows to fill the disk on first boot."`
}

// USR sets USR's squashfs compression. USR is what every machine
// downloads at every update, so the default is the smallest zstd level
// squashfs images commonly use.
type USR struct {
	Compression string `yaml:"compression" doc:"zstd (default) or xz; both are read by the kernel's squashfs."`
	Level       int    `yaml:"level" doc:"With zstd: the level, 1-22, default 19 (the pure-Go encoder's strongest setting is reached from 10 on; a build with libzstd goes further). xz has no levels."`
}

// Run holds settings for imgbuild run.
type Run struct {
	Memory   Size      `yaml:"memory" doc:"Guest memory, default 1GiB."`
	Forwards []Forward `yaml:"forwards" doc:"Host-to-guest TCP port forwards, e.g. {host: 8080, guest: 80}."`
}

// Forward is one TCP port forward from 127.0.0.1:Host to the guest's Guest port.
type Forward struct {
	Host  int `yaml:"host" required:"true" doc:"Port on 127.0.0.1 of the host (0 picks a free one)."`
	Guest int `yaml:"guest" required:"true" doc:"Port in the guest."`
}

// Update configures the update agent on the image (docs/updates.md).
type Update struct {
	Server        string     `yaml:"server" doc:"Omaha v3 endpoint (http://HOST:PORT/v1/update/, e.g. imgbuild serve or Nebraska) or a static repository URL (http://HOST/repo/)."`
	Channel       string     `yaml:"channel" doc:"Channel to follow: alpha, beta, stable (default) or any the repository has."`
	Interval      Duration   `yaml:"interval" doc:"Time between update checks, default 1h."`
	Reboot        string     `yaml:"reboot" doc:"immediate (default): reboot into a new release once written; fleetlock: reboot once update.fleetlock's server grants the reboot lock; off: wait for a human."`
	FleetLock     *FleetLock `yaml:"fleetlock" doc:"The FleetLock reboot-lock server for reboot: fleetlock (docs/updates.md, Reboot coordination)."`
	Pin           string     `yaml:"pin" doc:"Stay at this version: install it if older, never go past it."`
	HealthTimeout Duration   `yaml:"health_timeout" doc:"How long a trial boot of a new release may take to become healthy before it reboots back, default 120s."`
	MinVersion    string     `yaml:"min_version" doc:"Written into this release's record: the lowest running version that may update to it."`
}

// FleetLock is a FleetLock server (fleetlockd, airlock) whose lock the
// agent takes before rebooting, so machines of one group reboot one at
// a time.
type FleetLock struct {
	URL   string `yaml:"url" required:"true" doc:"The server's base URL, http(s); the agent POSTs to URL/v1/pre-reboot and URL/v1/steady-state."`
	Group string `yaml:"group" doc:"The lock group this machine belongs to, default \"default\"; machines of one group share its slots."`
}

// Security says what stage-1 trusts. A build is signed with
// imgbuild build --sign-key; without a key it fails unless AllowUnsigned
// is set, and then the image boots with its unsigned release record (for
// development). A signed build never boots unsigned records, whatever
// AllowUnsigned says.
type Security struct {
	AllowUnsigned bool     `yaml:"allow_unsigned" doc:"Let a build without --sign-key succeed and boot unsigned (development only)."`
	TrustedKeys   []string `yaml:"trusted_keys" doc:"Public key files (PEM, from imgbuild keygen), relative to the manifest, that stage-1 accepts besides the signing key's own; list old and new keys while rotating."`
}

// Logs sizes the journal.
type Logs struct {
	Size Size `yaml:"size" doc:"The journal's budget on ROOT, default 16MiB or a quarter of disk.root if less; the oldest lines go first. At least 1MiB, at most half of disk.root."`
}

// SSH enables the image's SSH server. Keys given here are on every
// machine booted from the image; per-machine keys come from its config.
type SSH struct {
	Port           int                 `yaml:"port" doc:"TCP port sshd listens on, default 22."`
	AuthorizedKeys map[string][]string `yaml:"authorized_keys" doc:"Public keys by user name, in authorized_keys format without options, e.g. root: [\"ssh-ed25519 AAAA... me@laptop\"]."`
	Forwarding     *bool               `yaml:"forwarding" doc:"Allow local port forwarding (ssh -L, direct-tcpip channels) to addresses the machine reaches; default true. Remote forwarding (ssh -R) is never offered."`
}

// ForwardingOn reports whether sshd forwards ports: unless the manifest
// says false, as OpenSSH's AllowTcpForwarding defaults to yes.
func (s *SSH) ForwardingOn() bool {
	return s.Forwarding == nil || *s.Forwarding
}
