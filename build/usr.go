package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/imgbuild/imgbuild/rootfs/confine"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/squashfs"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/manifest"

	"github.com/imgbuild/imgbuild/internal/unixmode"
)

// usrInput is what goes into USR besides the manifest's own files.
type usrInput struct {
	binaries map[string]string // name -> built file on the host
	sysinit  string
	sshd     string
	agent    string
	epoch    time.Time
	keys     []initramfs.File // trusted release keys, named <key id>.pub
	// platform goes into contract.PlatformFile; empty (the qemu target)
	// leaves the file out.
	platform string
	images   map[string]imageOut // container services by name
}

// usrEntries lays out the USR tree (mounted on /usr) for the squashfs
// writer. Files that the manifest places outside /usr go below
// /usr/share/factory, whence sysinit copies them at boot.
func usrEntries(m *manifest.Manifest, in usrInput) ([]squashfs.Entry, error) {
	var es []squashfs.Entry
	add := func(e squashfs.Entry) { es = append(es, e) }
	for _, b := range m.Binaries {
		e, err := hostFile("bin/"+b.Name, in.binaries[b.Name], 0o755, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("binary %s: %w", b.Name, err)
		}
		add(e)
		for _, l := range b.Links {
			add(squashfs.Entry{Path: "bin/" + l, Mode: fs.ModeSymlink | 0o777, Target: b.Name})
		}
	}
	sysinit, err := hostFile(usrPath(contract.SysinitPath), in.sysinit, 0o755, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("sysinit: %w", err)
	}
	add(sysinit)
	// The journal's reader and the services' status on the machine are
	// sysinit under other names, as busybox's applets are: they cost no
	// second Go binary on USR.
	for _, name := range []string{contract.LogsCommand, contract.ServicesCommand} {
		add(squashfs.Entry{Path: "bin/" + name, Mode: fs.ModeSymlink | 0o777, Target: "../lib/imgbuild/" + path.Base(contract.SysinitPath)})
	}
	agent, err := hostFile(usrPath(contract.AgentPath), in.agent, 0o755, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("update agent: %w", err)
	}
	add(agent)
	// On PATH, so that an operator over SSH types imgbuild-agent status.
	add(squashfs.Entry{Path: "bin/" + path.Base(contract.AgentPath), Mode: fs.ModeSymlink | 0o777, Target: "../lib/imgbuild/" + path.Base(contract.AgentPath)})
	for _, k := range in.keys {
		add(bytesEntry(usrPath(contract.USRKeysDir+"/"+k.Path), k.Data, 0o644, 0, 0))
	}
	ssh, err := sshEntries(m, in.sshd)
	if err != nil {
		return nil, err
	}
	es = append(es, ssh...)
	for i, s := range m.Services {
		if s.Image == "" {
			continue
		}
		img, ok := in.images[s.Name]
		if !ok {
			return nil, fmt.Errorf("service %s: image: not fetched", s.Name)
		}
		ies, err := imageEntries(s, img)
		if err != nil {
			return nil, fmt.Errorf("%s: service %s: image %s: %w", imageField(m, i), s.Name, s.Image, err)
		}
		es = append(es, ies...)
	}
	cfg, err := json.MarshalIndent(runtimeConfig(m, in.images), "", "  ")
	if err != nil {
		return nil, err
	}
	add(bytesEntry(strings.TrimPrefix(contract.Path, "/usr/"), append(cfg, '\n'), 0o644, 0, 0))
	if in.platform != "" {
		add(bytesEntry(usrPath(contract.PlatformFile), []byte(in.platform+"\n"), 0o644, 0, 0))
	}
	for i, f := range m.Files {
		e, err := fileEntry(m, f)
		if err != nil {
			return nil, fmt.Errorf("%s: files[%d] (%s): %w", m.File, i, f.Path, err)
		}
		add(e)
	}
	return es, nil
}

// platformOf names the platform whose metadata service sysinit reads;
// the qemu target has none.
func platformOf(target string) string {
	if target == "aws" {
		return contract.PlatformAWS
	}
	return ""
}

func usrPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/usr/"); ok {
		return rest
	}
	return strings.TrimPrefix(contract.FactoryDir, "/usr/") + p
}

func fileEntry(m *manifest.Manifest, f manifest.File) (squashfs.Entry, error) {
	uid, gid := uint32(0), uint32(0)
	if f.Owner != "" {
		var err error
		if uid, gid, err = manifest.ParseOwner(f.Owner); err != nil {
			return squashfs.Entry{}, fmt.Errorf("owner %q: %w", f.Owner, err)
		}
	}
	mode := unixmode.ToFileMode(uint32(f.Mode))
	if mode.Perm() == 0 {
		mode |= 0o644
	}
	switch {
	case f.Symlink != "":
		return squashfs.Entry{Path: usrPath(f.Path), Mode: fs.ModeSymlink | 0o777, Target: f.Symlink, UID: uid, GID: gid}, nil
	case f.Source != "":
		src := f.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(filepath.Dir(m.File), src)
		}
		return hostFile(usrPath(f.Path), src, mode, uid, gid)
	}
	return bytesEntry(usrPath(f.Path), []byte(f.Content), mode, uid, gid), nil
}

func bytesEntry(p string, data []byte, mode fs.FileMode, uid, gid uint32) squashfs.Entry {
	return squashfs.Entry{Path: p, Mode: mode, UID: uid, GID: gid, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func hostFile(p, src string, mode fs.FileMode, uid, gid uint32) (squashfs.Entry, error) {
	st, err := os.Stat(src)
	if err != nil {
		return squashfs.Entry{}, err
	}
	if !st.Mode().IsRegular() {
		return squashfs.Entry{}, fmt.Errorf("%s is not a regular file", src)
	}
	return squashfs.Entry{Path: p, Mode: mode, UID: uid, GID: gid, Size: st.Size(),
		Open: func() (io.ReadCloser, error) { return os.Open(src) }}, nil
}

// runtimeConfig is the configuration sysinit reads; images are the
// container services' images, whose process replaces the manifest's
// command.
func runtimeConfig(m *manifest.Manifest, images map[string]imageOut) contract.Config {
	c := contract.Config{Name: m.Name, Version: m.Version, Hostname: m.Hostname, JournalBytes: int64(m.Logs.Size)}
	for _, s := range m.Services {
		svc := contract.Service{Name: s.Name, Command: s.Command, Args: s.Args, User: s.User, Restart: s.Restart,
			BackoffMS: time.Duration(s.Backoff.Initial).Milliseconds(), MaxBackoffMS: time.Duration(s.Backoff.Max).Milliseconds(),
			After: s.After, Console: s.Console, Network: s.Network}
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			svc.Env = append(svc.Env, k+"="+s.Env[k])
		}
		if img, ok := images[s.Name]; ok && s.Image != "" {
			p := img.proc
			svc.Command, svc.Args, svc.Env, svc.User = p.Argv[0], p.Argv[1:], p.Env, p.User
			svc.Container = containerOf(s)
			svc.Container.Workdir = p.Workdir
		}
		confinement(&svc, s)
		if h := s.Health; h != nil {
			svc.Health = &contract.Health{TCPPort: h.TCP, HTTPURL: h.HTTP,
				IntervalMS: time.Duration(h.Interval).Milliseconds(), TimeoutMS: time.Duration(h.Timeout).Milliseconds()}
		}
		if r := s.Register; r != nil {
			svc.Register = &contract.Register{Name: r.Name, Port: r.Port}
		}
		c.Services = append(c.Services, svc)
	}
	if u := m.Update; u.Server != "" {
		c.Update = &contract.UpdateConfig{Server: u.Server, Channel: u.Channel, IntervalMS: time.Duration(u.Interval).Milliseconds(),
			Reboot: u.Reboot, Pin: u.Pin, HealthTimeoutMS: time.Duration(u.HealthTimeout).Milliseconds()}
		if f := u.FleetLock; f != nil {
			c.Update.FleetLock = &contract.FleetLock{URL: f.URL, Group: f.Group}
		}
		c.Services = append(c.Services, agentService)
	}
	if svc, ok := sshService(m); ok {
		c.Services = append(c.Services, svc)
	}
	return c
}

// agentService runs the update agent. It has no health check: a trial
// boot must not wait for an update server to answer, and the agent
// does nothing that a service depends on.
var agentService = contract.Service{Name: "imgbuild-agent", Command: contract.AgentPath, Args: []string{"run"},
	Restart: "always", BackoffMS: 5000, MaxBackoffMS: 300000}

// metered returns entries whose contents report progress as the
// squashfs writer reads them.
func metered(step string, r output.Reporter, es []squashfs.Entry) []squashfs.Entry {
	var total int64
	for _, e := range es {
		total += e.Size
	}
	m := newMeter(r, step, total)
	out := append([]squashfs.Entry(nil), es...)
	for i := range out {
		if open := out[i].Open; open != nil {
			out[i].Open = func() (io.ReadCloser, error) {
				rc, err := open()
				if err != nil {
					return nil, err
				}
				return m.reader(rc), nil
			}
		}
	}
	return out
}

// usrIn is where USR's programs come from.
type usrIn struct {
	debs   map[string]string // lock key -> .deb path, for binaries: deb:
	goBins map[string]string // the manifest's Go binaries, built by fetch
	own    ownPrograms
	keys   signingKeys
	images map[string]imageOut // container services by name
}

// usrOut is the staged USR (squashfs and hash tree) and its verity
// parameters.
type usrOut struct {
	path   string
	verity *verity.Params
}

func (b *builder) usr(ctx context.Context, in usrIn) (usrOut, string, error) {
	binaries := map[string]string{}
	for _, bin := range b.m.Binaries {
		switch {
		case bin.Deb != "":
			p, err := b.debFile(bin, in.debs[bin.Deb])
			if err != nil {
				return usrOut{}, "", err
			}
			binaries[bin.Name] = p
		case bin.Local != "":
			binaries[bin.Name] = b.rel(bin.Local)
		case bin.Own != "":
			if _, ok := ownbin.Lookup(bin.Own); !ok {
				return usrOut{}, "", fmt.Errorf("binary %s: imgbuild carries no program %q", bin.Name, bin.Own)
			}
			binaries[bin.Name] = filepath.Join(in.own.dir, bin.Own)
		case bin.Go != "":
			binaries[bin.Name] = in.goBins[bin.Name]
		}
	}
	entries, err := usrEntries(b.m, usrInput{binaries: binaries, sysinit: in.own.sysinit, sshd: in.own.sshd, agent: in.own.agent, epoch: b.epoch(), keys: in.keys.trustedKeys(),
		platform: platformOf(b.opts.Target), images: in.images})
	if err != nil {
		return usrOut{}, "", err
	}
	out := usrOut{path: b.staged(".usr")}
	var detail string
	if out.verity, detail, err = b.writeUSR(out.path, entries, usrOptions(b.m.USR, b.epoch())); err != nil {
		return usrOut{}, "", err
	}
	return out, detail, nil
}

// usrOptions are the squashfs options of the manifest's usr section
// (validated and defaulted: zstd at level 19 unless it says otherwise).
func usrOptions(u manifest.USR, epoch time.Time) squashfs.Options {
	if u.Compression == "xz" {
		return squashfs.Options{Compression: squashfs.XZ, ModTime: epoch}
	}
	return squashfs.Options{Compression: squashfs.ZSTD, Level: u.Level, ModTime: epoch}
}

// usrEncoder describes opt's compression and its encoder, e.g.
// "zstd-19, libzstd 1.5.4".
func usrEncoder(opt squashfs.Options) string {
	c := opt.Compression.String()
	if opt.Compression == squashfs.ZSTD {
		c = fmt.Sprintf("zstd-%d", opt.Level)
	}
	return c + ", " + squashfs.Encoder(opt.Compression)
}

// writeUSR writes USR (squashfs then verity tree) to out, or copies it
// from the cache when the same entries and options made it before; it
// returns the tree's parameters.
func (b *builder) writeUSR(out string, entries []squashfs.Entry, opt squashfs.Options) (*verity.Params, string, error) {
	k, err := usrKey(entries, opt, b.m.Name, b.m.Version)
	if err != nil {
		return nil, "", err
	}
	start := time.Now()
	var verityTime time.Duration
	path, hit, err := b.cached("usr", k, "usr", func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		size, err := squashfs.Write(f, 0, metered("usr", b.report, entries), opt)
		if err != nil {
			return fmt.Errorf("usr: squashfs: %w", err)
		}
		t := time.Now()
		p, err := b.appendVerity(f, size)
		if err != nil {
			return err
		}
		verityTime = time.Since(t)
		if err := f.Close(); err != nil {
			return err
		}
		return writeJSON(filepath.Join(filepath.Dir(path), "meta.json"), usrMeta{SquashfsSize: size, Entries: len(entries), Verity: p})
	})
	if err != nil {
		return nil, "", err
	}
	var meta usrMeta
	if err := readJSON(filepath.Join(filepath.Dir(path), "meta.json"), &meta); err != nil || meta.Verity == nil {
		return nil, "", fmt.Errorf("usr: cache entry %s: %v", filepath.Dir(path), err)
	}
	if err := b.checkUSRSize(path, meta.SquashfsSize); err != nil {
		return nil, "", err
	}
	if err := cachedCopy(path, out); err != nil {
		return nil, "", fmt.Errorf("usr: %w", err)
	}
	if hit {
		return meta.Verity, fmt.Sprintf("cached: %d entries, %.1f MiB squashfs + dm-verity tree", meta.Entries, mib(meta.SquashfsSize)), nil
	}
	return meta.Verity, fmt.Sprintf("%d entries, %.1f MiB squashfs, dm-verity tree in %s, all in %s", meta.Entries, mib(meta.SquashfsSize),
		verityTime.Round(time.Millisecond), since(start)), nil
}

// checkUSRSize fails when squashfs plus hash tree overflow the slot.
func (b *builder) checkUSRSize(path string, squashfsSize int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("usr: %w", err)
	}
	if st.Size() > int64(b.m.Disk.USR) {
		return fmt.Errorf("%s: USR needs %.1f MiB (squashfs %.1f MiB + dm-verity hash area %.1f MiB), more than its slot (disk.usr = %v): raise disk.usr",
			b.m.File, mib(st.Size()), mib(squashfsSize), mib(st.Size()-squashfsSize), b.m.Disk.USR)
	}
	return nil
}

// usrKey hashes the entries' metadata and content and every option that
// shapes the squashfs and its verity tree.
func usrKey(entries []squashfs.Entry, opt squashfs.Options, name, version string) (string, error) {
	h := sha256.New()
	// The executable's hash does not cover a shared libzstd or liblzma,
	// whose upgrade changes the bytes: the encoder's name does.
	fmt.Fprintf(h, "%s\x00usr\x00%d %d %d %d\x00%s\x00%s\x00%s\n", toolHash(), opt.Compression, opt.Level, opt.BlockSize, opt.ModTime.Unix(), name, version, squashfs.Encoder(opt.Compression))
	for _, e := range entries {
		sum := ""
		if e.Open != nil {
			var err error
			if sum, err = hashReader(e.Open); err != nil {
				return "", fmt.Errorf("usr: hash %s: %w", e.Path, err)
			}
		}
		fmt.Fprintf(h, "%q %v %d %d %d %q %d %d %s\n", e.Path, e.Mode, e.UID, e.GID, e.ModTime.Unix(), e.Target, e.Size, e.Rdev, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// usrMeta is kept beside a cached USR: what the rest of the build needs
// of it without reading it again.
type usrMeta struct {
	SquashfsSize int64          `json:"squashfs_size"`
	Entries      int            `json:"entries"`
	Verity       *verity.Params `json:"verity"`
}

// confinement resolves the manifest's confinement of s, with the
// defaults of an image service: Podman's capabilities, no_new_privs,
// the default seccomp profile and a pids limit, as a container user
// expects.
func confinement(svc *contract.Service, s manifest.Service) {
	image := s.Image != ""
	svc.Caps = s.Capabilities
	if svc.Caps == nil && image {
		svc.Caps = confine.ContainerDefault
	}
	svc.NoNewPrivs = image
	if s.NoNewPrivs != nil {
		svc.NoNewPrivs = *s.NoNewPrivs
	}
	switch {
	case s.Seccomp == confine.SeccompDefault, s.Seccomp == "" && image:
		svc.Seccomp = confine.SeccompDefault
	}
	svc.ReadOnly, svc.Writable = s.ReadOnly, s.Writable
	svc.MemoryBytes, svc.CPUs, svc.Pids = int64(s.Limits.Memory), s.Limits.CPU, s.Limits.Pids
	if svc.Pids == 0 && image {
		svc.Pids = containerPids
	}
}

// containerPids is an image service's pids.max unless the manifest
// says: Podman's default.
const containerPids = 4096
