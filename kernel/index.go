package kernel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// moduleInfo is what the closure needs from one module file.
type moduleInfo struct {
	name    string
	path    string // absolute
	relPath string // relative to the modules dir
	depends []string
	softPre []string
	// modaliases are the alias= patterns as the module declares them
	// (not normalized: "-" matters in a pattern).
	modaliases []string
}

// index maps every name a module can be asked for to its file, as depmod
// would: module names, aliases, and what is built into the kernel.
type index struct {
	modules      map[string]*moduleInfo
	aliases      map[string][]string // alias -> module names
	builtin      map[string]bool     // module names built into vmlinuz
	builtinAlias map[string]bool
}

func (k *Kernel) index() (*index, error) {
	k.indexOnce.Do(func() { k.idx, k.idxErr = buildIndex(k.ModulesDir) })
	return k.idx, k.idxErr
}

func buildIndex(dir string) (*index, error) {
	files, err := moduleFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel: index %s: %w", dir, err)
	}
	infos, err := readAll(dir, files)
	if err != nil {
		return nil, fmt.Errorf("kernel: index %s: %w", dir, err)
	}
	idx := &index{modules: map[string]*moduleInfo{}, aliases: map[string][]string{}}
	for _, mi := range infos {
		if prev, dup := idx.modules[mi.info.name]; dup {
			return nil, fmt.Errorf("kernel: index %s: module %s is both %s and %s", dir, mi.info.name, prev.relPath, mi.info.relPath)
		}
		idx.modules[mi.info.name] = mi.info
		for _, a := range mi.aliases {
			idx.aliases[a] = append(idx.aliases[a], mi.info.name)
		}
	}
	if idx.builtin, err = readBuiltin(dir); err != nil {
		return nil, fmt.Errorf("kernel: index %s: %w", dir, err)
	}
	if idx.builtinAlias, err = readBuiltinAliases(dir); err != nil {
		return nil, fmt.Errorf("kernel: index %s: %w", dir, err)
	}
	return idx, nil
}

// moduleFiles lists module files under dir, relative and sorted, so that the
// index and every error about it are the same on every run.
func moduleFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, ok := trimModuleSuffix(d.Name()); ok && d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

type indexed struct {
	info    *moduleInfo
	aliases []string
}

// readAll reads every module's .modinfo, in parallel: the section is small
// but a tree has a thousand or more files.
func readAll(dir string, files []string) ([]indexed, error) {
	out := make([]indexed, len(files))
	errs := make([]error, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i], errs[i] = readOne(dir, files[i])
			}
		}()
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	return out, errors.Join(errs...)
}

func readOne(dir, rel string) (indexed, error) {
	abs := filepath.Join(dir, filepath.FromSlash(rel))
	mi, err := readModinfo(abs)
	if err != nil {
		return indexed{}, err
	}
	stem, _ := trimModuleSuffix(path.Base(rel))
	name := normalize(mi.first("name"))
	if name == "" {
		// Kernels before name= was recorded: the build names a module
		// after its file.
		name = normalize(stem)
	}
	var aliases []string
	for _, a := range mi["alias"] {
		aliases = append(aliases, normalize(a))
	}
	return indexed{
		info: &moduleInfo{
			name: name, path: abs, relPath: rel,
			depends:    splitList(mi.first("depends")),
			softPre:    softdepPre(mi["softdep"]),
			modaliases: mi["alias"],
		},
		aliases: aliases,
	}, nil
}

// readBuiltin reads modules.builtin ("kernel/fs/ext4/ext4.ko" a line).
// A missing file means nothing is known to be built in.
func readBuiltin(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if stem, ok := trimModuleSuffix(path.Base(strings.TrimSpace(sc.Text()))); ok {
			out[normalize(stem)] = true
		}
	}
	return out, sc.Err()
}

// readBuiltinAliases reads the aliases of built-in code from
// modules.builtin.modinfo ("crc32c_generic.alias=crc32c\0...").
func readBuiltinAliases(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(dir, "modules.builtin.modinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		key, val, ok := strings.Cut(string(kv), "=")
		if ok && strings.HasSuffix(key, ".alias") {
			out[normalize(val)] = true
		}
	}
	return out, nil
}

// lookup says what a name refers to: modules to load, or built in (nil,
// true), or unknown (nil, false). The order is kmod's: module names, then
// module aliases, then built-in names and aliases. So "crc32c" gives
// crc32c_intel even though a generic crc32c is built in, as modprobe does.
func (idx *index) lookup(name string) ([]*moduleInfo, bool) {
	n := normalize(name)
	if m, ok := idx.modules[n]; ok {
		return []*moduleInfo{m}, true
	}
	if names := idx.aliases[n]; len(names) > 0 {
		var mods []*moduleInfo
		for _, mn := range names {
			mods = append(mods, idx.modules[mn])
		}
		return mods, true
	}
	return nil, idx.builtin[n] || idx.builtinAlias[n]
}
