package kernel

import (
	"sort"
	"strings"
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
		d := editDistance(n, m)
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

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
