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

// rescanFor is how long stage-1 keeps matching new devices after the
// first passes: some appear late, as SCSI disks after an asynchronous
// scan (sd_mod). The process exec's sysinit long before on a good boot.
const (
	rescanFor   = 10 * time.Second
	rescanEvery = 50 * time.Millisecond
)

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
// its devices appear: virtio_pci, then virtio_blk), and keeps matching
// late devices in the background for rescanFor.
func loadSelected(dir, sysfs string, sel *selection, load func(string) error) (int, []string, error) {
	l := &modLoader{dir: dir, sel: sel, load: load, done: map[string]bool{}}
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
	go func() {
		for end := time.Now().Add(rescanFor); time.Now().Before(end); {
			time.Sleep(rescanEvery)
			l.devicePass(sysfs)
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded, append([]string(nil), l.skipped...), nil
}
