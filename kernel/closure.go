package kernel

import (
	"fmt"
	"strings"
)

// Module is one module file to carry into the initramfs.
type Module struct {
	Name    string // as the kernel knows it (underscores)
	Path    string // absolute path of the file
	RelPath string // path below the modules dir, e.g. kernel/fs/fat/vfat.ko
	// Asked is true for a module named in Closure's call, false for one
	// only there as another's dependency.
	Asked bool
	// DeviceAliases are its alias= patterns that match a device's
	// modalias in sysfs (pci:..., virtio:..., acpi:...): a module with
	// some drives hardware a machine may not have.
	DeviceAliases []string
	// Depends are the modules to load before it (depends= and pre:
	// softdeps), by name, among those Closure returned.
	Depends []string
}

// UnknownModuleError is returned by Closure for a name that is neither a
// module, an alias of one, nor built in.
type UnknownModuleError struct {
	Name        string
	NeededBy    string // empty when the caller asked for it
	Suggestions []string
}

func (e *UnknownModuleError) Error() string {
	msg := fmt.Sprintf("kernel: unknown module %q", e.Name)
	if e.NeededBy != "" {
		msg += fmt.Sprintf(" (a dependency of %s)", e.NeededBy)
	}
	if len(e.Suggestions) > 0 {
		msg += "; did you mean " + strings.Join(e.Suggestions, ", ") + "?"
	}
	return msg
}

// Closure returns the modules needed to load the named ones, each after
// every module it depends on (a valid load order). Dashes and underscores
// in names are equivalent; names may also be aliases (e.g. crc32c).
// Built-in modules are skipped. "pre:" softdeps are included before their
// module when the kernel has them; a softdep it lacks is not an error.
func (k *Kernel) Closure(names []string) ([]Module, error) {
	idx, err := k.index()
	if err != nil {
		return nil, err
	}
	c := &closer{idx: idx, state: map[string]visitState{}}
	asked := map[string]bool{}
	for _, n := range names {
		mods, ok := idx.lookup(n)
		if !ok {
			return nil, &UnknownModuleError{Name: n, Suggestions: idx.suggest(n)}
		}
		for _, m := range mods {
			asked[m.name] = true
			if err := c.visit(m, false); err != nil {
				return nil, err
			}
		}
	}
	return c.annotate(asked), nil
}

type visitState int

const (
	unvisited visitState = iota
	visiting
	done
)

type closer struct {
	idx   *index
	state map[string]visitState
	stack []string
	order []Module
}

// visit appends m after its dependencies (depth-first, post-order).
func (c *closer) visit(m *moduleInfo, soft bool) error {
	switch c.state[m.name] {
	case done:
		return nil
	case visiting:
		if soft {
			return nil // a softdep closing a loop orders nothing
		}
		return fmt.Errorf("kernel: dependency cycle: %s -> %s", strings.Join(c.stack, " -> "), m.name)
	}
	c.state[m.name] = visiting
	c.stack = append(c.stack, m.name)
	for _, s := range m.softPre {
		mods, _ := c.idx.lookup(s)
		for _, d := range mods {
			if err := c.visit(d, true); err != nil {
				return err
			}
		}
	}
	for _, dep := range m.depends {
		d, ok := c.idx.modules[dep]
		if !ok {
			if c.idx.builtin[dep] {
				continue
			}
			return &UnknownModuleError{Name: dep, NeededBy: m.name}
		}
		if err := c.visit(d, false); err != nil {
			return err
		}
	}
	c.stack = c.stack[:len(c.stack)-1]
	c.state[m.name] = done
	c.order = append(c.order, Module{Name: m.name, Path: m.path, RelPath: m.relPath, DeviceAliases: deviceAliases(m.modaliases)})
	return nil
}

// annotate marks the asked modules and names each one's dependencies
// among the carried ones.
func (c *closer) annotate(asked map[string]bool) []Module {
	carried := map[string]bool{}
	for _, m := range c.order {
		carried[m.Name] = true
	}
	for i := range c.order {
		m := &c.order[i]
		m.Asked = asked[m.Name]
		info := c.idx.modules[m.Name]
		var deps []string
		for _, s := range info.softPre {
			mods, _ := c.idx.lookup(s)
			for _, d := range mods {
				if carried[d.name] {
					deps = append(deps, d.name)
				}
			}
		}
		for _, d := range info.depends {
			if carried[d] {
				deps = append(deps, d)
			}
		}
		m.Depends = deps
	}
	return c.order
}

// deviceBuses are the modalias prefixes of buses whose devices list their
// modalias under /sys/bus/*/devices: what stage-1 matches at boot.
var deviceBuses = map[string]bool{
	"pci": true, "virtio": true, "acpi": true, "platform": true, "input": true, "scsi": true,
	"usb": true, "cpu": true, "of": true, "hid": true, "serio": true, "pnp": true, "vmbus": true, "xen": true,
}

func deviceAliases(aliases []string) []string {
	var out []string
	for _, a := range aliases {
		// Some aliases glob the bus too ("acpi*:QEMU0002:*", qemu_fw_cfg's).
		if bus, _, ok := strings.Cut(a, ":"); ok && deviceBuses[strings.TrimRight(bus, "*")] {
			out = append(out, a)
		}
	}
	return out
}
