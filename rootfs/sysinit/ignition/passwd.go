package ignition

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// idTable maps names to numeric ids from an /etc/passwd or /etc/group
// file of the image (name:x:id:...).
type idTable struct {
	ids  map[string][2]int // name -> id, and gid for passwd
	file string
}

func readIDs(root, file string) (idTable, error) {
	t := idTable{ids: map[string][2]int{}, file: file}
	b, err := os.ReadFile(filepath.Join(root, file))
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("read %s: %w", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		gid := -1
		if len(f) > 3 {
			if g, err := strconv.Atoi(f[3]); err == nil {
				gid = g
			}
		}
		t.ids[f[0]] = [2]int{id, gid}
	}
	return t, nil
}

// lookup returns the id of name, or an error naming the file.
func (t idTable) lookup(name string) ([2]int, error) {
	id, ok := t.ids[name]
	if !ok {
		return id, fmt.Errorf("%q does not exist in the image's %s", name, t.file)
	}
	return id, nil
}

// resolve turns Ignition's id-or-name into a number; nothing set is root.
func (t idTable) resolve(id *int, name *string) (int, error) {
	switch {
	case id != nil:
		return *id, nil
	case name != nil && *name != "":
		v, err := t.lookup(*name)
		return v[0], err
	}
	return 0, nil
}
