package main

import (
	"fmt"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/randomseed"
)

// keepSeed saves a creditable random seed once the kernel's pool is
// ready. Stage-1 fed (and, when it could, credited) the saved seed, so
// on most boots the pool is ready already; otherwise the blocking read
// makes the kernel gather jitter entropy in this goroutine, off the boot
// path: services and DHCP do not wait for it.
func (s *sysinit) keepSeed() {
	wasReady := randomseed.Ready()
	if err := randomseed.WaitReady(); err != nil {
		s.logf("entropy: %v", err)
		return
	}
	when := "ready at boot"
	if !wasReady {
		when = fmt.Sprintf("ready %.2fs since boot", sinceBoot().Seconds())
	}
	if _, err := randomseed.Save(contract.RandomSeed, randomseed.Linux{}); err != nil {
		s.logf("entropy pool %s; %v", when, err)
		return
	}
	s.logf("entropy pool %s; random seed saved", when)
}

// saveSeedAtShutdown leaves the next boot a seed; creditable only when
// the pool was ready.
func (s *sysinit) saveSeedAtShutdown() {
	credited, err := randomseed.Save(contract.RandomSeed, randomseed.Linux{})
	switch {
	case err != nil:
		s.logf("%v", err)
	case !credited:
		s.logf("random seed saved (not creditable: the entropy pool was never ready)")
	}
}
