package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Files the builder writes beside load.list (initramfs.AliasList...).
const (
	aliasFile  = "modules.alias"
	depFile    = "modules.dep"
	alwaysFile = "modules.always"
)

// watchFor is how long stage-1 keeps loading modules for devices that
// appear after the first passes, as SCSI disks after an asynchronous
// scan (sd_mod). The process exec's sysinit long before on a good boot.
const watchFor = 10 * time.Second

type aliasRule struct{ pattern, file string }

// selection is what the initramfs says about loading modules by device.
type selection struct {
	aliases []aliasRule
	deps    map[string][]string
	always  []string
}

// readSelection reads the selection files of dir; false when the
// initramfs has none (load every module of load.list).
func readSelection(dir string) (*selection, bool, error) {
	s := &selection{deps: map[string][]string{}}
	err := eachLine(filepath.Join(dir, aliasFile), func(f []string) error {
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("want: alias PATTERN FILE")
		}
		s.aliases = append(s.aliases, aliasRule{f[1], f[2]})
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := eachLine(filepath.Join(dir, depFile), func(f []string) error {
		mod, ok := strings.CutSuffix(f[0], ":")
		if !ok {
			return fmt.Errorf("want: FILE: DEP...")
		}
		s.deps[mod] = f[1:]
		return nil
	}); err != nil {
		return nil, false, err
	}
	if err := eachLine(filepath.Join(dir, alwaysFile), func(f []string) error {
		s.always = append(s.always, f...)
		return nil
	}); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

func eachLine(file string, fn func([]string) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if err := fn(fields); err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Base(file), n, err)
		}
	}
	return sc.Err()
}

// matching returns the files whose pattern matches one of modaliases, in
// the order of the alias file.
func (s *selection) matching(modaliases []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.aliases {
		if seen[r.file] {
			continue
		}
		for _, m := range modaliases {
			if ok, _ := path.Match(r.pattern, m); ok {
				seen[r.file] = true
				out = append(out, r.file)
				break
			}
		}
	}
	return out
}

// sysfsModaliases reads every device's modalias under root/bus.
func sysfsModaliases(root string) []string {
	files, _ := filepath.Glob(filepath.Join(root, "bus", "*", "devices", "*", "modalias"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			if m := strings.TrimSpace(string(b)); m != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

// modLoader loads module files of dir once each, dependencies first.
type modLoader struct {
	dir  string
	sel  *selection
	load func(path string) error

	mu      sync.Mutex
	done    map[string]bool
	loaded  int
	skipped []string
}

func (l *modLoader) loadFile(file string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loadLocked(file)
}

func (l *modLoader) loadLocked(file string) error {
	if l.done[file] {
		return nil
	}
	l.done[file] = true
	for _, d := range l.sel.deps[file] {
		if err := l.loadLocked(d); err != nil {
			return err
		}
	}
	err := l.load(filepath.Join(l.dir, file))
	switch {
	case errors.Is(err, unix.ENODEV):
		l.skipped = append(l.skipped, file)
	case err != nil:
		return fmt.Errorf("%s: %w", file, err)
	default:
		l.loaded++
	}
	return nil
}

// devicePass loads the modules for the devices sysfs shows now and
// reports how many it had not loaded before.
func (l *modLoader) devicePass(sysfs string) (int, error) {
	n := 0
	for _, f := range l.sel.matching(sysfsModaliases(sysfs)) {
		l.mu.Lock()
		known := l.done[f]
		l.mu.Unlock()
		if known {
			continue
		}
		if err := l.loadFile(f); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// loadSelected loads the always-needed modules, then the modules of the
// machine's devices until a pass finds no new one (a bus driver makes
// its devices appear: virtio_pci, then virtio_blk). Devices added later
// come as kernel uevents, matched for watchFor: a blocked read, where
// polling sysfs cost a TCG boot 0.4 s of CPU.
func loadSelected(dir, sysfs string, sel *selection, load func(string) error) (int, []string, error) {
	l := &modLoader{dir: dir, sel: sel, load: load, done: map[string]bool{}}
	// Listen before the first pass, so no device falls between.
	events, evErr := openUevents()
	for _, f := range sel.always {
		if err := l.loadFile(f); err != nil {
			return l.loaded, l.skipped, err
		}
	}
	for {
		n, err := l.devicePass(sysfs)
		if err != nil {
			return l.loaded, l.skipped, err
		}
		if n == 0 {
			break
		}
	}
	if evErr == nil {
		go l.watch(events, time.Now().Add(watchFor))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded, append([]string(nil), l.skipped...), nil
}

// openUevents subscribes to the kernel's device events.
func openUevents() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// watch loads the modules of devices announced on fd until deadline.
func (l *modLoader) watch(fd int, deadline time.Time) {
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(time.Until(deadline)))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 8192)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if m := ueventModalias(buf[:n]); m != "" {
			for _, f := range l.sel.matching([]string{m}) {
				l.loadFile(f)
			}
		}
	}
}

// ueventModalias is the MODALIAS of an "add" uevent: NUL-separated
// "add@/devices/..." then KEY=value fields.
func ueventModalias(msg []byte) string {
	fields := strings.Split(string(msg), "\x00")
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "add@") {
		return ""
	}
	for _, f := range fields[1:] {
		if m, ok := strings.CutPrefix(f, "MODALIAS="); ok {
			return m
		}
	}
	return ""
}
