package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Query is what a reader asks of the journal (imgbuild logs on the
// host, imgbuild-logs on the machine: the same flags).
type Query struct {
	Boot      int // as Filter's boot
	All       bool
	Service   string
	JSON      bool
	ListBoots bool
}

// Show prints the entries q picks: JSON lines, or the console's lines
// with the time in front; or, with ListBoots, one line per boot.
func Show(w io.Writer, entries []Entry, q Query) error {
	if q.ListBoots {
		return listBoots(w, entries)
	}
	picked, err := Filter(entries, q.Boot, q.All, q.Service)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, e := range picked {
		if q.JSON {
			if err := enc.Encode(e); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(bw, "%s [%s] %s\n", e.Time.UTC().Format(timeFormat), e.Service, e.Message)
	}
	return bw.Flush()
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// startedPrefix begins sysinit's first line of a boot: "started NAME
// VERSION at ...", which names the version that boot ran.
const startedPrefix = "started "

func listBoots(w io.Writer, entries []Entry) error {
	type span struct {
		first, last time.Time
		version     string
		lines       int
	}
	spans := map[string]*span{}
	for _, e := range entries {
		s := spans[e.Boot]
		if s == nil {
			s = &span{first: e.Time}
			spans[e.Boot] = s
		}
		s.last, s.lines = e.Time, s.lines+1
		if e.Service == Sysinit && s.version == "" && strings.HasPrefix(e.Message, startedPrefix) {
			if f := strings.Fields(e.Message); len(f) >= 3 {
				s.version = f[2]
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOOT\tID\tVERSION\tFIRST\tLAST\tLINES")
	boots := Boots(entries)
	for i, id := range boots {
		s := spans[id]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", i-len(boots)+1, id, s.version, s.first.UTC().Format(timeFormat), s.last.UTC().Format(timeFormat), s.lines)
	}
	return tw.Flush()
}
