package fat

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// File is one file of the ESP.
type File struct {
	// Path is slash-separated from the root ("EFI/BOOT/BOOTX64.EFI");
	// parent directories are created as needed.
	Path string
	Data []byte
	// Open and Size stream a file instead of Data (kernels, initrds);
	// Open must yield exactly Size bytes.
	Open func() (io.ReadCloser, error)
	Size int64
	// ModTime defaults to the file system's modTime.
	ModTime time.Time
}

func (f *File) size() int64 {
	if f.Open != nil {
		return f.Size
	}
	return int64(len(f.Data))
}

// node is a file or directory of the tree being written.
type node struct {
	name     string
	file     *File // nil for a directory
	children []*node
	short    [11]byte
	long     bool // needs long-name entries
	mtime    time.Time
	cluster  uint32
	clusters uint32
}

func (n *node) isDir() bool { return n.file == nil }

// buildTree turns the flat file list into a directory tree with sorted
// children and unique short names.
func buildTree(files []File, modTime time.Time) (*node, error) {
	root := &node{mtime: modTime}
	for i := range files {
		f := &files[i]
		parts := strings.FieldsFunc(f.Path, func(r rune) bool { return r == '/' })
		if len(parts) == 0 {
			return nil, fmt.Errorf("file %d: empty path", i)
		}
		dir := root
		for j, name := range parts {
			if err := checkLongName(name); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			child := dir.child(name)
			last := j == len(parts)-1
			switch {
			case child == nil && last:
				if f.size() > 0xffffffff {
					return nil, fmt.Errorf("%s: %d bytes, FAT files end at 4 GiB", f.Path, f.size())
				}
				mt := f.ModTime
				if mt.IsZero() {
					mt = modTime
				}
				dir.children = append(dir.children, &node{name: name, file: f, mtime: mt})
			case child == nil:
				child = &node{name: name, mtime: modTime}
				dir.children = append(dir.children, child)
				dir = child
			case last || !child.isDir():
				return nil, fmt.Errorf("%s: path given twice or used as both file and directory (FAT names ignore case)", f.Path)
			default:
				dir = child
			}
		}
	}
	if err := root.assignShortNames(); err != nil {
		return nil, err
	}
	return root, nil
}

// child finds a child by name the way FAT compares names: ignoring case.
func (n *node) child(name string) *node {
	for _, c := range n.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// assignShortNames sorts every directory and gives each entry an 8.3
// name: its own if it is one, else a numbered alias.
func (n *node) assignShortNames() error {
	sort.Slice(n.children, func(a, b int) bool { return n.children[a].name < n.children[b].name })
	used := map[[11]byte]bool{}
	for _, c := range n.children {
		if s, ok := exactShort(c.name); ok {
			c.short = s
			used[s] = true
		}
	}
	for _, c := range n.children {
		if _, ok := exactShort(c.name); ok {
			continue
		}
		s, err := aliasShort(c.name, used)
		if err != nil {
			return err
		}
		c.short, c.long = s, true
		used[s] = true
	}
	for _, c := range n.children {
		if c.isDir() {
			if err := c.assignShortNames(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirEntries counts the 32-byte entries directory n needs.
func (n *node) dirEntries(isRoot bool, hasLabel bool) int {
	count := 2 // "." and ".."
	if isRoot {
		count = 0
		if hasLabel {
			count = 1
		}
	}
	for _, c := range n.children {
		count++
		if c.long {
			count += lfnCount(c.name)
		}
	}
	return count
}
