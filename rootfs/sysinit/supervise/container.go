package supervise

import (
	"encoding/json"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

// containerStart is how a container service starts: sysinit again, as
// its init (rootfs/container), in namespaces of its own, given the
// service with env its final environment. The init stays root to build
// the root; it drops to the service's user itself, against the image's
// /etc/passwd.
func (s *service) containerStart(env []string, sys *syscall.SysProcAttr) (path string, argv []string, err error) {
	svc := s.cfg
	svc.Env = env
	data, err := json.Marshal(svc)
	if err != nil {
		return "", nil, err
	}
	sys.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if svc.Container.Network == "none" {
		sys.Cloneflags |= unix.CLONE_NEWNET
	}
	self := s.sup.opts.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	return self, []string{"imgbuild-container:" + svc.Name, contract.ContainerVerb, string(data)}, nil
}
