package supervise

import (
	"os"
	"syscall"

	"github.com/imgbuild/imgbuild/rootfs/confine"
)

// confineStart puts the service's next instance into its cgroup (made
// with its limits) and, for a bare command with a policy, starts it
// through sysinit's confine verb, which narrows it and then executes
// it. A container's init applies the policy itself (rootfs/container).
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
	if s.cfg.Container != nil || s.cfg.Caps == nil && !s.cfg.NoNewPrivs {
		return path, argv, group, nil
	}
	self := s.sup.opts.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	argv, err := confine.Argv(self, confine.Policy{Caps: s.cfg.Caps, NoNewPrivs: s.cfg.NoNewPrivs}, argv)
	if err != nil {
		if group != nil {
			group.Close()
		}
		return "", nil, nil, err
	}
	return self, argv, group, nil
}
