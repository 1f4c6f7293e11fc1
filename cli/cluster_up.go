package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/sparse"
	"github.com/imgbuild/imgbuild/internal/termtext"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/rootfs/network"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/ignition"
)

type clusterUpFlags struct {
	configs, state string
	untilHealthy   bool
	timeout        time.Duration
	fresh, quiet   bool
	updateServer   string
}

// ClusterUpdateIP is where cluster up's members find --update-server
// (manifests/cluster.yaml's update.server): a guestfwd, the one address
// besides their forwards that leaves a restrict=on guest.
const ClusterUpdateIP = "10.0.2.100"

func newClusterUp(env Env) *cobra.Command {
	var f clusterUpFlags
	cmd := &cobra.Command{
		Use:   "up IMAGE",
		Short: "Boot one machine per config on a private network under QEMU",
		Long: `Up boots a copy of IMAGE for each config in --configs (as imgbuild cluster
configs writes them), all on one private L2 segment (their second NIC,
joined over unix sockets on this machine; nothing leaves it), each with
its own first NIC for DHCP and 127.0.0.1 port forwards: SSH and the
image's run.forwards (etcd's 2379 on the cluster image) on free ports,
printed once every member is healthy. The machines' disks live in --state
(default CONFIGS/machines) and are kept, so a second up boots the same
cluster again; --fresh starts from new copies of IMAGE. Ctrl-C powers
every member off.`,
		Example: `  imgbuild cluster configs --nodes 3 -o out/cluster
  imgbuild cluster up out/cluster.img --configs out/cluster
  imgbuild cluster up out/cluster.img --configs out/cluster --until-healthy --timeout 15m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("up takes one image path")}
			}
			if f.configs == "" {
				return usageError{fmt.Errorf("up needs --configs DIR (imgbuild cluster configs -o DIR writes them)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return clusterUp(cmd.Context(), env, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configs, "configs", "", "directory of per-machine configs, one machine per NAME.ign")
	fl.StringVar(&f.state, "state", "", "directory for the machines' disks and UEFI variables (default CONFIGS/machines)")
	fl.BoolVar(&f.untilHealthy, "until-healthy", false, "exit 0 once every member is healthy (and power them off)")
	fl.DurationVar(&f.timeout, "timeout", 20*time.Minute, "how long the members may take to become healthy")
	fl.BoolVar(&f.fresh, "fresh", false, "boot new copies of IMAGE, discarding the machines' disks")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not copy the consoles to the terminal")
	fl.StringVar(&f.updateServer, "update-server", "", "127.0.0.1:PORT of an update server on this machine (imgbuild serve) that the members reach as "+ClusterUpdateIP+":80")
	return cmd
}

// member is one machine of cluster up.
type member struct {
	name, config, addr string
	cfg                qemu.Config
	login              *sshLogin
	forwards           []qemu.Forward // the image's run.forwards, on free host ports
}

func clusterUp(ctx context.Context, env Env, image string, f clusterUpFlags) error {
	if _, err := os.Stat(image); err != nil {
		return err
	}
	configs, err := memberConfigs(f.configs)
	if err != nil {
		return err
	}
	if f.state == "" {
		f.state = filepath.Join(f.configs, "machines")
	}
	if err := os.MkdirAll(f.state, 0o755); err != nil {
		return err
	}
	settings, err := readRunSettings(image)
	if err != nil {
		return err
	}
	var updateFwd string
	if f.updateServer != "" {
		host, _, err := net.SplitHostPort(f.updateServer)
		if err != nil || host != "127.0.0.1" {
			return usageError{fmt.Errorf("--update-server %q: want 127.0.0.1:PORT, a server on this machine", f.updateServer)}
		}
		if updateFwd, err = qemu.RelayFwd(ClusterUpdateIP+":80", f.updateServer); err != nil {
			return err
		}
	}
	devFile, devLine, _ := devKey(devKeyDir())
	var members []*member
	var cleanups []func()
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	for _, path := range configs {
		m := &member{name: strings.TrimSuffix(filepath.Base(path), ".ign"), config: path}
		raw, err := readConfig(path)
		if err != nil {
			return err
		}
		m.addr = configAddress(raw)
		disk := filepath.Join(f.state, m.name+".img")
		if err := memberDisk(image, disk, f.fresh); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		vars := disk + ".vars"
		if f.fresh {
			os.Remove(vars)
		}
		cfg, login, cleanup, err := machine(disk, runFlags{config: path, vars: vars, untilHealthy: f.untilHealthy, quiet: true, cpu: qemu.CPUPlain, rng: true})
		cleanups = append(cleanups, cleanup)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		// Every member has the same guest ports: each gets its own host ports.
		cfg.Forwards = cfg.Forwards[:0]
		for _, fw := range settings.Forwards {
			p, err := qemu.FreePort()
			if err != nil {
				return err
			}
			m.forwards = append(m.forwards, qemu.Forward{Host: p, Guest: fw.Guest})
		}
		cfg.Forwards = append(cfg.Forwards, m.forwards...)
		if login != nil {
			cfg.Forwards = append(cfg.Forwards, qemu.Forward{Host: login.port, Guest: settings.SSHPort})
			if raw := string(raw); devLine != "" && strings.Contains(raw, strings.Fields(devLine)[1]) {
				login.key = devFile
			}
		}
		if updateFwd != "" {
			cfg.GuestFwds = append(cfg.GuestFwds, updateFwd)
		}
		if !f.quiet {
			cfg.Output = &prefixWriter{w: env.Stderr, prefix: m.name + "| "}
		}
		m.cfg, m.login = cfg, login
		members = append(members, m)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	segDir, err := os.MkdirTemp("", "imgbuild-seg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(segDir)
	cfgs := make([]qemu.Config, len(members))
	for i, m := range members {
		cfgs[i] = m.cfg
	}
	start := time.Now()
	fmt.Fprintf(env.Stderr, "imgbuild: booting %d machines on one private segment\n", len(members))
	c, err := qemu.StartCluster(ctx, segDir, cfgs)
	if err != nil {
		return err
	}
	defer c.Close()
	hctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, vm := range c.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errs[i] = vm.UntilHealthy(hctx, 0); errs[i] == nil {
				fmt.Fprintf(env.Stderr, "imgbuild: %s healthy after %.0fs\n", members[i].name, time.Since(start).Seconds())
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return &exitError{ExitUnhealthy, fmt.Errorf("%s not healthy: %w\n%s", members[i].name, err, tailLines(c.VMs[i].Console.Lines(), 20))}
		}
	}
	printMembers(env.Stdout, members)
	if f.untilHealthy {
		shutdownAll(c.VMs)
		return nil
	}
	fmt.Fprintf(env.Stderr, "imgbuild: the cluster runs; Ctrl-C powers it off\n")
	<-ctx.Done()
	shutdownAll(c.VMs)
	return nil
}

// memberConfigs lists dir's configs in member order (node2 before node10).
func memberConfigs(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.ign"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("--configs %s: no .ign files (imgbuild cluster configs -o %s writes them)", dir, dir)
	}
	if len(paths) > 250 {
		return nil, fmt.Errorf("--configs %s: %d configs: a segment here takes at most 250 machines", dir, len(paths))
	}
	sort.Slice(paths, func(i, j int) bool {
		a, b := paths[i], paths[j]
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
	return paths, nil
}

// memberDisk makes disk a sparse copy of image unless it is there
// already, with the image's run settings (NAME.json) beside it, so that
// imgbuild run boots one member alone as it would the image.
func memberDisk(image, disk string, fresh bool) error {
	if settings, err := os.ReadFile(jsonBeside(image)); err == nil {
		if err := fsutil.WriteFile(jsonBeside(disk), settings, 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(disk); err == nil && !fresh {
		return nil
	}
	return fsutil.Write(disk, 0o644, func(f *os.File) error { return sparse.Copy(f, image) })
}

func jsonBeside(image string) string { return strings.TrimSuffix(image, filepath.Ext(image)) + ".json" }

// configAddress is the first static address a config's .network files
// give, for the table cluster up prints ("" when none).
func configAddress(raw []byte) string {
	cfg, err := ignition.Parse(raw)
	if err != nil {
		return ""
	}
	entries, err := cfg.FilesUnder(contract.NetworkDir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		nf, err := network.Parse(e.Path, e.Data)
		if err == nil && len(nf.Network.Addresses) > 0 {
			return nf.Network.Addresses[0].Addr().String()
		}
	}
	return ""
}

func printMembers(w io.Writer, members []*member) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tADDRESS\tFORWARDS\tSSH")
	for _, m := range members {
		var fw []string
		for _, f := range m.forwards {
			fw = append(fw, "127.0.0.1:"+strconv.Itoa(f.Host)+"->"+strconv.Itoa(f.Guest))
		}
		ssh := "-"
		if m.login != nil {
			ssh = m.login.command(m.login.port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.name, firstOf(m.addr, "-"), firstOf(strings.Join(fw, " "), "-"), ssh)
	}
	tw.Flush()
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func shutdownAll(vms []*qemu.VM) {
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func() { defer wg.Done(); vm.Shutdown(60 * time.Second) }()
	}
	wg.Wait()
}

func tailLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prefixWriter copies a console to w with each line prefixed by the
// machine's name, so that several consoles can share a terminal.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		line := termtext.String(string(p.buf[:i]))
		p.buf = p.buf[i+1:]
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, line); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}
