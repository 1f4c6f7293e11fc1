package manifest

import (
	"fmt"
	"github.com/imgbuild/imgbuild/rootfs/confine"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/version"
)

// OwnPrograms are the optional on-image programs a binaries entry may
// name with own: (build/ownbin's Optional programs; a test there keeps
// the two lists equal).
var OwnPrograms = []string{"fleetlockd", "coredns", "imgbuild-registrar"}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	labelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	binNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	modNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	ownerRE   = regexp.MustCompile(`^\d+:\d+$`)
)

// at builds an error at the position of a field path.
func (m *Manifest) at(field, format string, args ...any) error {
	p := m.pos[field]
	return &Error{File: m.File, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

func (m *Manifest) validate() error {
	if !nameRE.MatchString(m.Name) {
		return m.at("name", "name %q: use lower case letters, digits and dashes", m.Name)
	}
	if err := version.Check(m.Version); err != nil {
		return m.at("version", "version: %v", err)
	}
	if m.Arch != "" && !slices.Contains(Arches, m.Arch) {
		return m.at("arch", "arch %q: want one of %s", m.Arch, strings.Join(Arches, ", "))
	}
	checks := []func() error{m.validateKernel, m.validateBinaries, m.validateFiles, m.validateServices, m.validateDisk, m.validateUSR, m.validateRun, m.validateUpdate, m.validateSSH}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manifest) validateKernel() error {
	k := m.Kernel
	switch {
	case k.Package == "" && k.Path == "":
		return m.at("kernel", "kernel: set package (a Debian kernel package) or path (a local bzImage)")
	case k.Package != "" && k.Path != "":
		return m.at("kernel.path", "kernel: set package or path, not both")
	case k.Path != "" && k.ModulesDir == "":
		return m.at("kernel.path", "kernel.path needs kernel.modules_dir (the lib/modules/<release> directory)")
	case k.Path == "" && k.ModulesDir != "":
		return m.at("kernel.modules_dir", "kernel.modules_dir is only used with kernel.path")
	}
	for i, mod := range k.Modules {
		if !modNameRE.MatchString(mod) {
			return m.at(fmt.Sprintf("kernel.modules[%d]", i), "kernel module %q: want a module name such as virtio_net", mod)
		}
	}
	for i, arg := range k.Cmdline {
		if arg == "" || strings.ContainsAny(arg, " \t\n") || strings.HasPrefix(arg, "imgbuild.") && arg != "imgbuild.debug=shell" {
			return m.at(fmt.Sprintf("kernel.cmdline[%d]", i), "kernel.cmdline entry %q: one argument without spaces; imgbuild.* keys are set by imgbuild", arg)
		}
	}
	return nil
}

func (m *Manifest) validateBinaries() error {
	seen := map[string]string{"imgbuild-agent": "imgbuild's update agent"}
	for i, b := range m.Binaries {
		f := fmt.Sprintf("binaries[%d]", i)
		if !binNameRE.MatchString(b.Name) {
			return m.at(f+".name", "binary name %q: want a file name such as etcd", b.Name)
		}
		sources := 0
		for _, s := range []string{b.Go, b.Deb, b.Local, b.Own} {
			if s != "" {
				sources++
			}
		}
		if sources != 1 {
			return m.at(f, "binary %q: set exactly one of go, deb, local or own", b.Name)
		}
		if b.Own != "" && !slices.Contains(OwnPrograms, b.Own) {
			carries := "no optional programs"
			if len(OwnPrograms) > 0 {
				carries = strings.Join(OwnPrograms, ", ")
			}
			return m.at(f+".own", "binary %q: own %q: imgbuild carries %s", b.Name, b.Own, carries)
		}
		switch {
		case b.Go != "" && b.Version == "":
			return m.at(f+".go", "binary %q: go needs version (a module version such as v3.6.16)", b.Name)
		case b.Go == "" && b.Version != "":
			return m.at(f+".version", "binary %q: version is only used with go", b.Name)
		case b.Deb != "" && !strings.HasPrefix(b.Path, "/"):
			return m.at(f+".deb", "binary %q: deb needs path, the absolute path of the file inside the package (e.g. /bin/busybox)", b.Name)
		case b.Deb == "" && b.Path != "":
			return m.at(f+".path", "binary %q: path is only used with deb", b.Name)
		}
		for j, n := range append([]string{b.Name}, b.Links...) {
			if prev, dup := seen[n]; dup {
				field := f + ".name"
				if j > 0 {
					field = fmt.Sprintf("%s.links[%d]", f, j-1)
				}
				return m.at(field, "/usr/bin/%s is given twice (also by %s)", n, prev)
			}
			if !binNameRE.MatchString(n) {
				return m.at(fmt.Sprintf("%s.links[%d]", f, j-1), "link name %q: want a file name", n)
			}
			seen[n] = b.Name
		}
	}
	return nil
}

func (m *Manifest) validateFiles() error {
	seen := map[string]int{}
	for _, b := range m.Binaries {
		for _, n := range append([]string{b.Name}, b.Links...) {
			seen["/usr/bin/"+n] = -1
		}
	}
	for i, f := range m.Files {
		fp := fmt.Sprintf("files[%d]", i)
		if !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return m.at(fp+".path", "file path %q: want a clean absolute path such as /etc/motd", f.Path)
		}
		if prev, dup := seen[f.Path]; dup {
			what := "a binary"
			if prev >= 0 {
				what = fmt.Sprintf("files[%d]", prev)
			}
			return m.at(fp+".path", "duplicate path %s (also given by %s)", f.Path, what)
		}
		seen[f.Path] = i
		n := 0
		for _, s := range []string{f.Content, f.Source, f.Symlink} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			return m.at(fp, "file %s: set one of content, source or symlink", f.Path)
		}
		if f.Owner != "" {
			if _, _, err := ParseOwner(f.Owner); err != nil {
				return m.at(fp+".owner", "file %s: owner %q: %v", f.Path, f.Owner, err)
			}
		}
	}
	return nil
}

func (m *Manifest) validateServices() error {
	names := map[string]int{}
	for i, s := range m.Services {
		if _, dup := names[s.Name]; dup {
			return m.at(fmt.Sprintf("services[%d].name", i), "duplicate service name %q", s.Name)
		}
		names[s.Name] = i
	}
	registered := map[string]string{} // register.name -> service
	for i, s := range m.Services {
		f := fmt.Sprintf("services[%d]", i)
		if !nameRE.MatchString(s.Name) {
			return m.at(f+".name", "service name %q: use lower case letters, digits and dashes", s.Name)
		}
		if err := m.validateImage(f, s); err != nil {
			return err
		}
		if err := m.validateConfine(f, s); err != nil {
			return err
		}
		switch s.Restart {
		case "", "always", "on-failure", "never":
		default:
			return m.at(f+".restart", "service %s: restart %q: want always, on-failure or never", s.Name, s.Restart)
		}
		for j, a := range s.After {
			if _, ok := names[a]; !ok || a == s.Name {
				return m.at(fmt.Sprintf("%s.after[%d]", f, j), "service %s: after names %q, which is not another service", s.Name, a)
			}
		}
		if h := s.Health; h != nil {
			if (h.TCP != 0) == (h.HTTP != "") {
				return m.at(f+".health", "service %s: health needs exactly one of tcp or http", s.Name)
			}
			if h.TCP < 0 || h.TCP > 65535 {
				return m.at(f+".health.tcp", "service %s: health.tcp %d is not a port", s.Name, h.TCP)
			}
			if u, err := url.Parse(h.HTTP); h.HTTP != "" && (err != nil || u.Scheme != "http" || u.Host == "") {
				return m.at(f+".health.http", "service %s: health.http %q: want a URL such as http://127.0.0.1:8080/health", s.Name, h.HTTP)
			}
		}
		if err := m.validateRegister(f, s, registered); err != nil {
			return err
		}
		if s.Backoff.Max != 0 && s.Backoff.Max < s.Backoff.Initial {
			return m.at(f+".backoff.max", "service %s: backoff.max is below backoff.initial", s.Name)
		}
	}
	return m.checkCycles()
}

// validateImage checks a service's command, or its image and the fields
// only a container service has.
func (m *Manifest) validateImage(f string, s Service) error {
	if s.Image == "" {
		if !strings.HasPrefix(s.Command, "/") {
			return m.at(f+".command", "service %s: command %q must be an absolute path such as /usr/bin/etcd", s.Name, s.Command)
		}
		for field, set := range map[string]bool{"workdir": s.Workdir != "", "state": s.State != nil, "network_mode": s.NetworkMode != ""} {
			if set {
				return m.at(f+"."+field, "service %s: %s is only used with image", s.Name, field)
			}
		}
		return nil
	}
	if _, err := ParseImageRef(s.Image); err != nil {
		return m.at(f+".image", "service %s: image %q: %v", s.Name, s.Image, err)
	}
	if s.Console {
		return m.at(f+".console", "service %s: console: a container service has no terminal; run a shell on the machine instead", s.Name)
	}
	if s.Command != "" && strings.ContainsAny(s.Command, " \t\n") {
		return m.at(f+".command", "service %s: command %q: one program, its arguments go in args", s.Name, s.Command)
	}
	if s.Workdir != "" && !cleanAbs(s.Workdir) {
		return m.at(f+".workdir", "service %s: workdir %q: want a clean absolute path inside the container such as /app", s.Name, s.Workdir)
	}
	switch s.NetworkMode {
	case "", "host", "none":
	default:
		return m.at(f+".network_mode", "service %s: network_mode %q: want host (the machine's network) or none (loopback only)", s.Name, s.NetworkMode)
	}
	if st := s.State; st != nil {
		if !cleanAbs(st.Dir) || under(st.Dir, "/usr", "/proc", "/sys", "/dev", "/run", "/tmp") {
			return m.at(f+".state.dir", "service %s: state.dir %q: want a clean absolute path on ROOT such as /var/lib/%s (not under /usr, /proc, /sys, /dev, /run or /tmp)", s.Name, st.Dir, s.Name)
		}
		if !cleanAbs(st.Mount) || under(st.Mount, "/proc", "/dev", "/tmp") {
			return m.at(f+".state.mount", "service %s: state.mount %q: want a clean absolute path inside the container such as /data (not /, nor under /proc, /dev or /tmp, which the container gets of its own)", s.Name, st.Mount)
		}
	}
	return nil
}

func cleanAbs(p string) bool { return strings.HasPrefix(p, "/") && path.Clean(p) == p && p != "/" }

// under reports whether p is one of dirs or below one.
func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// validateRegister checks a service's DNS registration: one record a
// machine per name, so two services may not share one.
func (m *Manifest) validateRegister(f string, s Service, registered map[string]string) error {
	r := s.Register
	if r == nil {
		return nil
	}
	if !labelRE.MatchString(r.Name) {
		return m.at(f+".register.name", "service %s: register.name %q is not a DNS label (lower case letters, digits and inner dashes, at most 63)", s.Name, r.Name)
	}
	if other, dup := registered[r.Name]; dup {
		return m.at(f+".register.name", "service %s: register.name %q is also service %s's", s.Name, r.Name, other)
	}
	registered[r.Name] = s.Name
	if r.Port < 1 || r.Port > 65535 {
		return m.at(f+".register.port", "service %s: register.port %d is not a port (1-65535)", s.Name, r.Port)
	}
	return nil
}

// checkCycles rejects services that wait on each other.
func (m *Manifest) checkCycles() error {
	after := map[string][]string{}
	for _, s := range m.Services {
		after[s.Name] = s.After
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string, []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case 1:
			return m.at("services", "services wait on each other in a cycle: %s", strings.Join(append(chain, n), " -> "))
		case 2:
			return nil
		}
		state[n] = 1
		for _, a := range after[n] {
			if err := visit(a, append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	for _, s := range m.Services {
		if err := visit(s.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// defaultRoot is ROOT's size in the image when disk.root is not given
// (the first boot grows it to the disk).
const defaultRoot Size = 256 << 20

func (m *Manifest) validateDisk() error {
	for _, p := range []struct {
		field string
		v     Size
		min   Size
	}{{"disk.esp", m.Disk.ESP, 40 << 20}, {"disk.usr", m.Disk.USR, 8 << 20}, {"disk.oem", m.Disk.OEM, 1 << 20}, {"disk.root", m.Disk.Root, 16 << 20}} {
		if p.v == 0 {
			continue
		}
		if p.v%(1<<20) != 0 {
			return m.at(p.field, "%s: %d bytes is not a whole number of MiB", p.field, p.v)
		}
		if p.v < p.min {
			return m.at(p.field, "%s: %v is below the minimum of %v", p.field, p.v, p.min)
		}
	}
	root := m.Disk.Root
	if root == 0 {
		root = defaultRoot
	}
	switch l := m.Logs.Size; {
	case l == 0:
	case l < 1<<20:
		return m.at("logs.size", "logs.size: %d bytes is below the minimum of 1MiB", int64(l))
	case l > root/2:
		return m.at("logs.size", "logs.size: %v is more than half of ROOT's %v (disk.root): the journal must leave room for the machine's state", l, root)
	}
	return nil
}

func (m *Manifest) validateUSR() error {
	switch m.USR.Compression {
	case "", "zstd":
		if m.USR.Level != 0 && (m.USR.Level < 1 || m.USR.Level > 22) {
			return m.at("usr.level", "usr.level %d: zstd's levels are 1-22", m.USR.Level)
		}
	case "xz":
		if m.USR.Level != 0 {
			return m.at("usr.level", "usr.level: xz has no levels (mksquashfs's xz neither); remove it or use zstd")
		}
	default:
		return m.at("usr.compression", "usr.compression %q: want zstd or xz", m.USR.Compression)
	}
	return nil
}

func (m *Manifest) validateRun() error {
	for i, f := range m.Run.Forwards {
		if f.Host < 0 || f.Host > 65535 || f.Guest <= 0 || f.Guest > 65535 {
			return m.at(fmt.Sprintf("run.forwards[%d]", i), "run.forwards: ports must be 1-65535 (host may be 0 for any free port)")
		}
	}
	return nil
}

func (m *Manifest) validateUpdate() error {
	u := m.Update
	if u.Server != "" {
		if p, err := url.Parse(u.Server); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return m.at("update.server", "update.server %q: want an http(s) URL", u.Server)
		}
	}
	if u.Channel != "" && !nameRE.MatchString(u.Channel) {
		return m.at("update.channel", "update.channel %q: use lower case letters, digits and dashes", u.Channel)
	}
	if u.Reboot != "" && u.Reboot != "immediate" && u.Reboot != "fleetlock" && u.Reboot != "off" {
		return m.at("update.reboot", "update.reboot %q: want immediate, fleetlock or off", u.Reboot)
	}
	if err := m.validateFleetLock(); err != nil {
		return err
	}
	for field, v := range map[string]string{"update.pin": u.Pin, "update.min_version": u.MinVersion} {
		if v == "" {
			continue
		}
		if err := version.Check(v); err != nil {
			return m.at(field, "%s: %v", field, err)
		}
	}
	if u.Interval < 0 || u.HealthTimeout < 0 {
		return m.at("update", "update: durations must be positive")
	}
	return nil
}

// validateFleetLock checks update.fleetlock: needed by, and only
// meaningful with, reboot: fleetlock.
func (m *Manifest) validateFleetLock() error {
	u := m.Update
	f := u.FleetLock
	switch {
	case u.Reboot == "fleetlock" && f == nil:
		return m.at("update.reboot", "update.reboot: fleetlock needs update.fleetlock.url")
	case f == nil:
		return nil
	case u.Reboot != "fleetlock":
		reboot := u.Reboot
		if reboot == "" {
			reboot = "immediate"
		}
		return m.at("update.fleetlock", "update.fleetlock: set only with update.reboot: fleetlock (reboot is %s)", reboot)
	}
	if p, err := url.Parse(f.URL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return m.at("update.fleetlock.url", "update.fleetlock.url %q: want an http(s) URL", f.URL)
	}
	if f.Group != "" && !nameRE.MatchString(f.Group) {
		return m.at("update.fleetlock.group", "update.fleetlock.group %q: use lower case letters, digits and dashes", f.Group)
	}
	if u.Server == "" {
		return m.at("update.fleetlock", "update.fleetlock: no update.server, so nothing is installed and no reboot is coordinated")
	}
	return nil
}

// Arches are the architectures an image can be built for; the first is
// the default.
var Arches = []string{"amd64", "arm64"}

func (m *Manifest) applyDefaults() {
	if m.Hostname == "" {
		m.Hostname = m.Name
	}
	if m.Arch == "" {
		m.Arch = Arches[0]
	}
	def := func(s *Size, v Size) {
		if *s == 0 {
			*s = v
		}
	}
	def(&m.Disk.ESP, 96<<20)
	def(&m.Disk.USR, 256<<20)
	def(&m.Disk.OEM, 16<<20)
	def(&m.Disk.Root, defaultRoot)
	def(&m.Run.Memory, 1<<30)
	if m.USR.Compression == "" {
		m.USR.Compression = "zstd"
	}
	if m.USR.Compression == "zstd" && m.USR.Level == 0 {
		m.USR.Level = 19
	}
	if m.Update.Channel == "" {
		m.Update.Channel = "stable"
	}
	if m.Update.Reboot == "" {
		m.Update.Reboot = "immediate"
	}
	if f := m.Update.FleetLock; f != nil && f.Group == "" {
		f.Group = "default"
	}
	if m.Update.Interval == 0 {
		m.Update.Interval = Duration(time.Hour)
	}
	if m.Update.HealthTimeout == 0 {
		m.Update.HealthTimeout = Duration(120 * time.Second)
	}
	if m.Logs.Size == 0 {
		m.Logs.Size = min(16<<20, m.Disk.Root/4) // a small ROOT keeps room for state
	}
	if m.SSH != nil && m.SSH.Port == 0 {
		m.SSH.Port = 22
	}
	for i := range m.Services {
		s := &m.Services[i]
		if s.Restart == "" {
			s.Restart = "always"
		}
		if s.Image != "" && s.NetworkMode == "" {
			s.NetworkMode = "host"
		}
		if s.Backoff.Initial == 0 {
			s.Backoff.Initial = Duration(time.Second)
		}
		if s.Backoff.Max == 0 {
			s.Backoff.Max = Duration(30 * time.Second)
		}
		if h := s.Health; h != nil {
			if h.Interval == 0 {
				h.Interval = Duration(time.Second)
			}
			if h.Timeout == 0 {
				h.Timeout = Duration(2 * time.Second)
			}
		}
	}
}

// Where names the place of a field path such as "binaries[0].deb" in
// the manifest file, as file:line:col, for errors found after parsing.
func (m *Manifest) Where(field string) string {
	p, ok := m.pos[field]
	if !ok {
		return m.File
	}
	return fmt.Sprintf("%s:%d:%d", m.File, p.line, p.col)
}

func (m *Manifest) validateConfine(f string, s Service) error {
	l := s.Limits
	switch {
	case l.Memory < 0 || l.Memory > 0 && l.Memory < 1<<20:
		return m.at(f+".limits.memory", "service %s: limits.memory %d: want at least 1MiB", s.Name, int64(l.Memory))
	case l.CPU < 0 || l.CPU > 1024:
		return m.at(f+".limits.cpu", "service %s: limits.cpu %v: want CPUs, e.g. 0.5", s.Name, l.CPU)
	case l.CPU > 0 && l.CPU < 0.01:
		return m.at(f+".limits.cpu", "service %s: limits.cpu %v: the least is 0.01 (1%% of one CPU)", s.Name, l.CPU)
	case l.Pids < 0 || l.Pids > 0 && l.Pids < 2:
		return m.at(f+".limits.pids", "service %s: limits.pids %d: want at least 2", s.Name, l.Pids)
	}
	if bad := confine.CheckCaps(s.Capabilities); len(bad) > 0 {
		return m.at(f+".capabilities", "service %s: capabilities %s: not Linux capabilities (names as in capabilities(7), e.g. NET_BIND_SERVICE)", s.Name, strings.Join(bad, ", "))
	}
	if s.Console && (s.Capabilities != nil || s.NoNewPrivs != nil && *s.NoNewPrivs) {
		return m.at(f+".capabilities", "service %s: the console shell is the operator's: it keeps every capability", s.Name)
	}
	if s.Seccomp != "" && !slices.Contains(confine.SeccompProfiles, s.Seccomp) {
		return m.at(f+".seccomp", "service %s: seccomp %q: want %s", s.Name, s.Seccomp, strings.Join(confine.SeccompProfiles, " or "))
	}
	if s.Console && s.Seccomp == confine.SeccompDefault {
		return m.at(f+".seccomp", "service %s: the console shell is the operator's: it gets no seccomp filter", s.Name)
	}
	return m.validateView(f, s)
}

// validateView checks read_only and writable.
func (m *Manifest) validateView(f string, s Service) error {
	switch {
	case s.ReadOnly && s.Image != "":
		return m.at(f+".read_only", "service %s: an image's root is read-only already; its writable directory is state", s.Name)
	case s.ReadOnly && s.Console:
		return m.at(f+".read_only", "service %s: the console shell is the operator's: it sees the system as it is", s.Name)
	case len(s.Writable) > 0 && !s.ReadOnly:
		return m.at(f+".writable", "service %s: writable needs read_only: true (without it everything is writable)", s.Name)
	}
	tmp := slices.Contains(s.Writable, "/tmp")
	for j, w := range s.Writable {
		at := fmt.Sprintf("%s.writable[%d]", f, j)
		switch {
		case !path.IsAbs(w) || path.Clean(w) != w:
			return m.at(at, "service %s: writable %q: want a clean absolute path, e.g. /var/lib/%s", s.Name, w, s.Name)
		case w == "/" || w == "/usr" || strings.HasPrefix(w, "/usr/"):
			return m.at(at, "service %s: writable %q: / and /usr cannot be (USR is read-only under dm-verity)", s.Name, w)
		case strings.HasPrefix(w, "/tmp/") && !tmp:
			return m.at(at, "service %s: writable %q: below the service's private /tmp; list /tmp itself to share the machine's", s.Name, w)
		}
	}
	return nil
}
