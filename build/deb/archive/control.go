package archive

import (
	"bufio"
	"bytes"
	"io"
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
	_ = EachStanza(bytes.NewReader(data), func(st Stanza) error {
		stanzas = append(stanzas, st)
		return nil
	})
	return stanzas
}

// EachStanza is ParseStanzas over a reader, one stanza at a time: a
// Packages index of 50 MB is read without holding it, or a map of every
// field of its 60,000 stanzas, in memory. fn may keep the stanza; its
// error stops the reading.
func EachStanza(r io.Reader, fn func(Stanza) error) error {
	cur := Stanza{}
	last := ""
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		st := cur
		cur, last = Stanza{}, ""
		return fn(st)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return err
			}
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
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}
