// Package container is the init of a container service: sysinit's
// supervisor re-executes sysinit with contract.ContainerVerb in new
// mount, PID, UTS and IPC namespaces (and a network one for
// network_mode none), and Main, PID 1 there, makes the image's tree on
// USR its root (read-only, with /proc, /dev, /tmp and the state
// directory of its own), drops to the service's user, starts the
// process, forwards signals to it and reaps. No daemon stays on the
// machine: the init lives and dies with its service, and the kernel
// kills whatever the service left when the init exits.
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/confine"
	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

// Main is the init, given the arguments after the verb; it returns the
// exit status for os.Exit, the service's own when it ran.
func Main(args []string) int {
	status, err := main(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "imgbuild-container: %v\n", err)
		return 127
	}
	return status
}

func main(args []string) (int, error) {
	if len(args) != 1 {
		return 0, errors.New("want the service as one JSON argument")
	}
	var svc contract.Service
	if err := json.Unmarshal([]byte(args[0]), &svc); err != nil {
		return 0, fmt.Errorf("service: %w", err)
	}
	if svc.Container == nil {
		return 0, errors.New("service: not a container")
	}
	// This binary, kept open across pivot_root: the process starts
	// through its confine verb, which narrows it and becomes the
	// service's user (the init itself keeps what it needs to run it).
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	defer self.Close()
	p, err := prepare(svc, "/etc/resolv.conf")
	if err != nil {
		return 0, err
	}
	pol := confine.Policy{Caps: svc.Caps, NoNewPrivs: svc.NoNewPrivs, Seccomp: svc.Seccomp}
	if !pol.Empty() {
		// The verb becomes the user itself, after it cut the bounding
		// set, which only root may.
		if c := p.cred; c != nil {
			pol.Cred = &confine.Cred{UID: c.Uid, GID: c.Gid, Groups: c.Groups}
			p.cred = nil
		}
		via := fmt.Sprintf("/proc/self/fd/%d", self.Fd())
		argv, err := confine.Argv(via, pol, append([]string{p.path}, p.argv[1:]...))
		if err != nil {
			return 0, err
		}
		p.path, p.argv = via, argv
	}
	return run(p)
}

// process is what prepare leaves for run: the root is in place.
type process struct {
	path string
	argv []string
	env  []string
	dir  string
	cred *syscall.Credential
}

// prepare builds the container's root and enters it. resolvConf is the
// machine's, bound over the image's on the host network.
func prepare(svc contract.Service, resolvConf string) (process, error) {
	c := svc.Container
	root := c.Root
	// Nothing mounted here may reach the machine's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return process{}, fmt.Errorf("make mounts private: %w", err)
	}
	if c.Network == "none" {
		if err := loopbackUp(); err != nil {
			return process{}, err
		}
	}
	id := supervise.Identity{Home: "/"}
	if svc.User != "" {
		passwd, err := inImage(root, "etc/passwd")
		if err != nil {
			return process{}, err
		}
		group, err := inImage(root, "etc/group")
		if err != nil {
			return process{}, err
		}
		if id, err = supervise.LookupUserFiles(svc.User, passwd, group); err != nil {
			return process{}, err
		}
	}
	// A bind of the tree onto itself is a mount point pivot_root
	// accepts; read-only holds even where the tree is not on USR.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return process{}, fmt.Errorf("bind %s: %w", root, err)
	}
	if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return process{}, fmt.Errorf("read-only %s: %w", root, err)
	}
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"tmpfs", "dev", "tmpfs", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=755,size=64k"},
		{"tmpfs", "tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
	for _, m := range mounts {
		if err := unix.Mount(m.src, filepath.Join(root, m.dst), m.fstype, m.flags, m.data); err != nil {
			return process{}, fmt.Errorf("mount /%s: %w", m.dst, err)
		}
	}
	if err := makeDev(filepath.Join(root, "dev")); err != nil {
		return process{}, err
	}
	if st := c.State; st != nil {
		if err := bindState(st, root, id); err != nil {
			return process{}, err
		}
	}
	if c.Network == "host" {
		inside, err := inImage(root, "etc/resolv.conf")
		if err != nil {
			return process{}, err
		}
		if fi, err := os.Lstat(inside); err == nil && fi.Mode().IsRegular() {
			if _, err := os.Stat(resolvConf); err == nil {
				if err := bindReadOnly(resolvConf, inside); err != nil {
					return process{}, err
				}
			}
		}
	}
	if err := enter(root); err != nil {
		return process{}, err
	}
	if err := unix.Sethostname([]byte(svc.Name)); err != nil {
		return process{}, fmt.Errorf("hostname: %w", err)
	}
	env := svc.Env
	if !hasKey(env, "HOME") {
		env = append(env, "HOME="+id.Home)
	}
	path, err := lookPath(svc.Command, env)
	if err != nil {
		return process{}, err
	}
	p := process{path: path, argv: append([]string{svc.Command}, svc.Args...), env: env, dir: c.Workdir}
	if svc.User != "" {
		p.cred = id.Credential()
	}
	return p, nil
}

// inImage is rel's path below root, refused when a directory on the
// way is a symlink: read before pivot_root, an absolute link would lead
// to the machine's files rather than the image's.
func inImage(root, rel string) (string, error) {
	p := root
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("the image's /%s is a symlink", strings.TrimPrefix(p, root+"/"))
		}
	}
	return filepath.Join(p, parts[len(parts)-1]), nil
}

// enter makes root the root: pivot_root with the old root stacked on
// the new one, then detached, needs no directory for it in a tree that
// is read-only.
func enter(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the machine's root: %w", err)
	}
	return unix.Chdir("/")
}

func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", dst, err)
	}
	return nil
}

// bindState mounts the state directory, made on its first start and
// given to the service's user so that it can write there.
func bindState(st *contract.Bind, root string, id supervise.Identity) error {
	if _, err := os.Stat(st.Source); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(st.Source, 0o755); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if err := os.Chown(st.Source, int(id.UID), int(id.GID)); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	if err := unix.Mount(st.Source, filepath.Join(root, st.Target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind state %s at %s: %w", st.Source, st.Target, err)
	}
	return nil
}

// devices are the nodes a program commonly needs; nothing else of the
// machine's /dev is visible.
var devices = []struct {
	name         string
	major, minor uint32
}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}

func makeDev(dev string) error {
	for _, d := range devices {
		if err := unix.Mknod(filepath.Join(dev, d.name), unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("/dev/%s: %w", d.name, err)
		}
		// mknod is subject to the umask.
		if err := os.Chmod(filepath.Join(dev, d.name), 0o666); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return os.Mkdir(filepath.Join(dev, "shm"), 0o1777)
}

// loopbackUp brings lo up in a network namespace of the container's own.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

// lookPath finds a command without a slash in env's PATH, inside the
// container, as the image's author expects of docker.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", cmd, path)
}

// forwarded are the signals the init passes on: as PID 1 of its
// namespace it receives only those it handles, so these must be.
var forwarded = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// run starts the process, forwards signals to it and reaps every
// orphan the namespace hands the init, until the process exits; its
// status is the init's.
func run(p process) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	reaper := supervise.NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reaper.Run(ctx)
	sys := &syscall.SysProcAttr{Credential: p.cred}
	pid, exited, err := reaper.Start(p.path, p.argv, &os.ProcAttr{Dir: p.dir, Env: p.env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Sys: sys})
	if err != nil {
		return 0, err
	}
	for {
		select {
		case s := <-sigs:
			_ = unix.Kill(pid, s.(unix.Signal))
		case ws := <-exited:
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
	}
}
