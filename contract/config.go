package contract

// Config is the whole runtime configuration of one image, which a build
// writes into USR (Path) and sysinit reads at boot. It carries only what
// sysinit needs, already resolved (paths, numeric durations).
type Config struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Hostname string    `json:"hostname"`
	Services []Service `json:"services,omitempty"`
	// Update configures the update agent; nil when the manifest has no
	// update server (no agent runs, trial boots still roll back).
	Update *UpdateConfig `json:"update,omitempty"`
	// JournalBytes is the journal's budget on ROOT (JournalDir); 0: no
	// journal.
	JournalBytes int64 `json:"journal_bytes,omitempty"`
}

// UpdateConfig is the manifest's update section, resolved.
type UpdateConfig struct {
	Server          string `json:"server"`  // Omaha endpoint or static repository URL
	Channel         string `json:"channel"` // track
	IntervalMS      int64  `json:"interval_ms"`
	Reboot          string `json:"reboot"`        // "immediate", "fleetlock" or "off"
	Pin             string `json:"pin,omitempty"` // stay at this version
	HealthTimeoutMS int64  `json:"health_timeout_ms"`
	// FleetLock is the reboot lock taken before a reboot when Reboot
	// is "fleetlock"; nil otherwise.
	FleetLock *FleetLock `json:"fleetlock,omitempty"`
}

// FleetLock names a FleetLock server and the group whose semaphore this
// machine takes a slot of.
type FleetLock struct {
	URL   string `json:"url"`
	Group string `json:"group"`
}

// Service is one supervised process.
type Service struct {
	Name    string   `json:"name"`
	Command string   `json:"command"` // absolute path inside the booted system
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"` // KEY=VALUE
	// User is "uid", "uid:gid" or a name found in /etc/passwd; empty is root.
	User string `json:"user,omitempty"`
	// Restart is "always", "on-failure" or "never".
	Restart string `json:"restart"`
	// BackoffMS is the first restart delay; it doubles up to MaxBackoffMS.
	BackoffMS    int64 `json:"backoff_ms"`
	MaxBackoffMS int64 `json:"max_backoff_ms"`
	// After names services that must be healthy (or started, when they
	// have no health check) before this one starts.
	After []string `json:"after,omitempty"`
	// Console attaches the service to the serial console as its
	// controlling terminal (an interactive shell) instead of prefixing
	// its output.
	Console bool    `json:"console,omitempty"`
	Health  *Health `json:"health,omitempty"`
	// Network holds the service back until DHCP has configured the
	// network or given up; other services start while DHCP runs.
	Network bool `json:"network,omitempty"`
	// Register publishes the service in the cluster's DNS while it is
	// healthy; sysinit then writes its state under ServiceStateDir.
	Register *Register `json:"register,omitempty"`
	// Container runs the service from an image's tree on USR in
	// namespaces of its own; Command, Args, Env and User are then the
	// process inside it (the image config's, with the manifest's
	// overrides), Command resolved against Env's PATH when not absolute.
	Container *Container `json:"container,omitempty"`
	// Caps are the capabilities the service keeps; null keeps all, []
	// none (rootfs/confine).
	Caps       []string `json:"caps"`
	NoNewPrivs bool     `json:"no_new_privs,omitempty"`
	// Seccomp is the service's seccomp profile ("default"), or empty.
	Seccomp string `json:"seccomp,omitempty"`
	// ReadOnly gives a bare service a read-only view of the system but
	// for Writable, and a /tmp of its own (a container's root is
	// read-only anyway).
	ReadOnly bool     `json:"read_only,omitempty"`
	Writable []string `json:"writable,omitempty"`
	// Limits of the service's cgroup; zero is none.
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
	Pids        int     `json:"pids,omitempty"`
}

// ContainerVerb, as sysinit's first argument, makes it a container's
// init (rootfs/container) instead of PID 1: the supervisor re-executes
// itself with it, the service's JSON as the next argument, in new
// namespaces, so the image carries no container runtime of its own.
const ContainerVerb = "imgbuild-container-init"

// Container is how sysinit runs a container service (docs/apps.md).
type Container struct {
	// Root is the image's tree, ImagesDir/NAME/rootfs: the read-only
	// root of the container.
	Root string `json:"root"`
	// Image is the image's reference as the manifest writes it,
	// REF@sha256:DIGEST, for status and logs.
	Image   string `json:"image,omitempty"`
	Workdir string `json:"workdir"`
	// State is a directory on ROOT mounted read-write inside.
	State *Bind `json:"state,omitempty"`
	// Network is "host" (the machine's network namespace) or "none" (one
	// of its own with only loopback).
	Network string `json:"network"`
}

// Bind mounts Source (outside) at Target (inside the container).
type Bind struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Health is a readiness probe. Exactly one of TCPPort or HTTPURL is set.
type Health struct {
	TCPPort    int    `json:"tcp_port,omitempty"`
	HTTPURL    string `json:"http_url,omitempty"`
	IntervalMS int64  `json:"interval_ms"`
	TimeoutMS  int64  `json:"timeout_ms"`
}
