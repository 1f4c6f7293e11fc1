package kernel

import (
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/internal/textdist"
)

// suggest returns up to five module names close to an unknown one: small
// edit distance, or containing it.
func (idx *index) suggest(name string) []string {
	n := normalize(name)
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	consider := func(m string) {
		d := textdist.Levenshtein(n, m)
		if d <= 2 || (len(n) >= 3 && strings.Contains(m, n)) {
			cands = append(cands, cand{m, d})
		}
	}
	for m := range idx.modules {
		consider(m)
	}
	for m := range idx.builtin {
		consider(m)
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].name < cands[j].name
	})
	var out []string
	for i := 0; i < len(cands) && i < 5; i++ {
		out = append(out, cands[i].name)
	}
	return out
}
