package supervise

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/rootfs/confine"
)

// confineStart puts the service's next instance into its cgroup (made
// with its limits) and, for a bare command with a policy, starts it
// through sysinit's confine verb, which narrows it, becomes its user
// and then executes it. A container's init starts its process through
// the same verb (rootfs/container).
// The returned file is the cgroup's, to close once the process started.
func (s *service) confineStart(path string, argv []string, sys *syscall.SysProcAttr) (string, []string, *os.File, error) {
	var group *os.File
	if root := s.sup.opts.CgroupRoot; root != "" {
		f, err := confine.Group(root, s.cfg.Name, confine.Limits{MemoryBytes: s.cfg.MemoryBytes, CPUs: s.cfg.CPUs, Pids: s.cfg.Pids})
		if err != nil {
			return "", nil, nil, err
		}
		group = f
		sys.UseCgroupFD, sys.CgroupFD = true, int(f.Fd())
	}
	c := s.cfg
	pol := confine.Policy{Caps: c.Caps, NoNewPrivs: c.NoNewPrivs, Seccomp: c.Seccomp, ReadOnly: c.ReadOnly, Writable: c.Writable}
	if c.Container != nil || pol.Empty() {
		return path, argv, group, nil
	}
	// The verb becomes the user itself, after what needs root: cutting
	// the bounding set, mounting the read-only view.
	if cr := sys.Credential; cr != nil {
		pol.Cred = &confine.Cred{UID: cr.Uid, GID: cr.Gid, Groups: cr.Groups}
		sys.Credential = nil
	}
	if pol.ReadOnly {
		sys.Cloneflags |= unix.CLONE_NEWNS
	}
	self := s.sup.opts.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	argv, err := confine.Argv(self, pol, argv)
	if err != nil {
		if group != nil {
			group.Close()
		}
		return "", nil, nil, err
	}
	return self, argv, group, nil
}
