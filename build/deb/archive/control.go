package archive

import (
	"bufio"
	"bytes"
	"strings"
)

// Stanza is one paragraph of a deb822 control file (Packages, Release,
// .sources): field name to value, continuation lines joined by "\n".
type Stanza map[string]string

// ParseStanzas splits deb822 text into stanzas. Lines that are neither a
// field nor a continuation are skipped, as apt skips them; comment lines
// (#) are dropped.
func ParseStanzas(data []byte) []Stanza {
	var stanzas []Stanza
	cur := Stanza{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			stanzas = append(stanzas, cur)
		}
		cur, last = Stanza{}, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || k == "" {
				continue
			}
			last = k
			cur[k] = strings.TrimSpace(v)
		}
	}
	flush()
	return stanzas
}
