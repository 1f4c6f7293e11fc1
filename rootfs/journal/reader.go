package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// maxLineBytes bounds one line on reading: the writer's lines are far
// shorter (a message is at most a few KiB), so a longer one is damage.
const maxLineBytes = 1 << 20

// Read returns every entry of the ring in dir of fsys, oldest first.
// A line that does not parse (torn by a power cut, or damaged) is
// skipped and counted in skipped.
func Read(fsys fs.FS, dir string) (entries []Entry, skipped int, err error) {
	des, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	var seqs []uint64
	names := map[uint64]string{}
	for _, de := range des {
		if seq, ok := parseSegment(de.Name()); ok && de.Type().IsRegular() {
			seqs = append(seqs, seq)
			names[seq] = de.Name()
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		n, err := readSegment(fsys, path.Join(dir, names[seq]), &entries)
		skipped += n
		if err != nil {
			return entries, skipped, fmt.Errorf("journal: %s: %w", names[seq], err)
		}
	}
	return entries, skipped, nil
}

func readSegment(fsys fs.FS, name string, out *[]Entry) (skipped int, err error) {
	f, err := fsys.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for sc.Scan() {
		var e Entry
		if len(sc.Bytes()) == 0 {
			continue
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Boot == "" {
			skipped++
			continue
		}
		*out = append(*out, e)
	}
	return skipped, sc.Err()
}

// Boots lists the boot ids in entries in the order they first appear:
// the last is the newest boot.
func Boots(entries []Entry) []string {
	seen := map[string]bool{}
	var boots []string
	for _, e := range entries {
		if !seen[e.Boot] {
			seen[e.Boot] = true
			boots = append(boots, e.Boot)
		}
	}
	return boots
}

// Filter picks one boot's entries, and one service's when service is
// not empty. boot counts as journalctl -b does: 0 is the newest boot,
// -1 the one before, 1 the oldest kept; all is every boot.
func Filter(entries []Entry, boot int, all bool, service string) ([]Entry, error) {
	want := ""
	if !all {
		boots := Boots(entries)
		i := boot - 1
		if boot <= 0 {
			i = len(boots) - 1 + boot
		}
		if i < 0 || i >= len(boots) {
			return nil, fmt.Errorf("boot %d: the log holds %d boots", boot, len(boots))
		}
		want = boots[i]
	}
	var out []Entry
	for _, e := range entries {
		if (want == "" || e.Boot == want) && (service == "" || e.Service == service) {
			out = append(out, e)
		}
	}
	return out, nil
}
