// Package initramfs packs the stage-1 initramfs: the Go init, the kernel
// modules it loads and their load order, as a newc cpio archive
// compressed with zstd. It uses u-root's cpio writer because it writes
// device nodes (cavaliergopher/cpio writes /dev/console as 0:0).
package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// Module is one kernel module file to carry.
type Module struct {
	Name string // module name, e.g. dm_verity
	Path string // the .ko file on the build host
	// Asked: the manifest or the defaults named it, rather than it being
	// only another's dependency.
	Asked bool
	// DeviceAliases: for a module that drives hardware, the modalias
	// patterns of the devices it drives; stage-1 loads it only when the
	// machine has one.
	DeviceAliases []string
	// Depends are the names of the modules it needs loaded first.
	Depends []string
}

// File is an extra file in the archive.
type File struct {
	Path string // absolute, e.g. /etc/imgbuild/keys
	Data []byte
	Mode uint64 // permission bits
}

// Input is everything the initramfs holds.
type Input struct {
	Init    string   // stage-1 binary on the build host
	Modules []Module // in load order: dependencies first
	Files   []File
	MTime   int64 // SOURCE_DATE_EPOCH for every record
}

// LoadList is where the module load order lives inside the initramfs.
const LoadList = "/lib/modules/load.list"

// Module selection by device, in kmod's formats: stage-1 loads the
// modules of AlwaysList, and those of AliasList whose pattern matches a
// device's modalias, each after its DepList dependencies. Without
// AliasList it loads all of LoadList.
const (
	AliasList  = "/lib/modules/modules.alias"
	DepList    = "/lib/modules/modules.dep"
	AlwaysList = "/lib/modules/modules.always"
)

// Write writes the compressed archive to w. The same input always gives
// the same bytes: records are in a fixed order with fixed inode numbers,
// owners and times.
func Write(w io.Writer, in Input) error {
	recs, err := records(in)
	if err != nil {
		return err
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return fmt.Errorf("initramfs: zstd: %w", err)
	}
	cw := cpio.Newc.Writer(zw)
	for i, r := range recs {
		r.Info.Ino = uint64(i + 1)
		r.Info.MTime = uint64(in.MTime)
		r.Info.NLink = 1
		if r.Info.Mode&cpio.S_IFMT == cpio.S_IFDIR {
			r.Info.NLink = 2
		}
		if err := cw.WriteRecord(r); err != nil {
			return fmt.Errorf("initramfs: write %s: %w", r.Info.Name, err)
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("initramfs: trailer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("initramfs: zstd: %w", err)
	}
	return nil
}

func records(in Input) ([]cpio.Record, error) {
	init, err := os.ReadFile(in.Init)
	if err != nil {
		return nil, fmt.Errorf("initramfs: stage-1: %w", err)
	}
	files := map[string]cpio.Record{
		"init":        cpio.StaticRecord(init, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755}),
		"dev/console": cpio.CharDev("dev/console", 0o600, 5, 1),
	}
	var order strings.Builder
	for _, m := range in.Modules {
		data, err := os.ReadFile(m.Path)
		if err != nil {
			return nil, fmt.Errorf("initramfs: module %s: %w", m.Name, err)
		}
		name := "lib/modules/" + path.Base(m.Path)
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("initramfs: module file %s given twice", path.Base(m.Path))
		}
		files[name] = cpio.StaticRecord(data, cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o644})
		fmt.Fprintln(&order, path.Base(m.Path))
	}
	files[strings.TrimPrefix(LoadList, "/")] = cpio.StaticRecord([]byte(order.String()), cpio.Info{Name: strings.TrimPrefix(LoadList, "/"), Mode: cpio.S_IFREG | 0o644})
	if len(in.Modules) > 0 {
		for name, data := range selectionFiles(in.Modules) {
			files[name] = cpio.StaticRecord(data, cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o644})
		}
	}
	for _, f := range in.Files {
		name := strings.TrimPrefix(path.Clean(f.Path), "/")
		if _, dup := files[name]; dup || name == "" || name == "." {
			return nil, fmt.Errorf("initramfs: file %s: duplicate or invalid path", f.Path)
		}
		files[name] = cpio.StaticRecord(f.Data, cpio.Info{Name: name, Mode: cpio.S_IFREG | f.Mode})
	}
	return withParents(files), nil
}

// withParents returns the records sorted by name, each directory before
// its contents, adding the directories that are only implied.
func withParents(files map[string]cpio.Record) []cpio.Record {
	all := map[string]cpio.Record{}
	for name, r := range files {
		all[name] = r
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = cpio.Directory(d, 0o755)
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]cpio.Record, 0, len(names))
	for _, n := range names {
		out = append(out, all[n])
	}
	return out
}

// selectionFiles are AliasList, DepList and AlwaysList for mods.
func selectionFiles(mods []Module) map[string][]byte {
	file := map[string]string{}
	for _, m := range mods {
		file[m.Name] = path.Base(m.Path)
	}
	var alias, dep, always strings.Builder
	for _, m := range mods {
		f := file[m.Name]
		fmt.Fprintf(&dep, "%s:", f)
		for _, d := range m.Depends {
			if df, ok := file[d]; ok {
				fmt.Fprintf(&dep, " %s", df)
			}
		}
		dep.WriteString("\n")
		switch {
		case m.Asked && len(m.DeviceAliases) > 0:
			for _, a := range m.DeviceAliases {
				fmt.Fprintf(&alias, "alias %s %s\n", a, f)
			}
		case m.Asked:
			fmt.Fprintln(&always, f)
		}
	}
	return map[string][]byte{
		strings.TrimPrefix(AliasList, "/"):  []byte(alias.String()),
		strings.TrimPrefix(DepList, "/"):    []byte(dep.String()),
		strings.TrimPrefix(AlwaysList, "/"): []byte(always.String()),
	}
}
