package fat

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// shortChars are the characters allowed in an 8.3 name besides A-Z, 0-9
// and code points above 127 (which we never emit).
const shortChars = "!#$%&'()-@^_`{}~"

func isShortChar(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(shortChars, c)
}

// checkLongName rejects names that VFAT cannot store.
func checkLongName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid file name %q", name)
	}
	if len(utf16.Encode([]rune(name))) > 255 {
		return fmt.Errorf("file name %q longer than 255 UTF-16 units", name)
	}
	for _, c := range name {
		if c < 0x20 || strings.ContainsRune(`"*/:<>?\|`, c) {
			return fmt.Errorf("file name %q: character %q not allowed on FAT", name, c)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return fmt.Errorf("file name %q: FAT drops a trailing dot or space", name)
	}
	return nil
}

// exactShort returns the 8.3 form of name if name is already a valid
// upper-case 8.3 name, so it needs no long-name entries.
func exactShort(name string) ([11]byte, bool) {
	var s [11]byte
	base, ext, hasDot := strings.Cut(name, ".")
	if len(base) < 1 || len(base) > 8 || len(ext) > 3 || hasDot && ext == "" || strings.Contains(ext, ".") {
		return s, false
	}
	for _, c := range base + ext {
		if !isShortChar(c) {
			return s, false
		}
	}
	copy(s[:], fmt.Sprintf("%-8s%-3s", base, ext))
	return s, true
}

// shortBasis maps name to the upper-case base and extension a numbered
// 8.3 alias is made from (the Windows "basis name" algorithm, simplified).
func shortBasis(name string) (base, ext string) {
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, c := range strings.ToUpper(s) {
			if c == ' ' || c == '.' {
				continue
			}
			if !isShortChar(c) {
				c = '_'
			}
			if b.Len() < n {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
	trimmed := strings.TrimLeft(name, ". ")
	b, e := trimmed, ""
	if i := strings.LastIndexByte(trimmed, '.'); i > 0 {
		b, e = trimmed[:i], trimmed[i+1:]
	}
	base, ext = clean(b, 8), clean(e, 3)
	if base == "" {
		base = "_"
	}
	return base, ext
}

// aliasShort gives name a numbered alias (NAME~1.EXT) not in used.
func aliasShort(name string, used map[[11]byte]bool) ([11]byte, error) {
	base, ext := shortBasis(name)
	for n := 1; n < 1000000; n++ {
		tail := fmt.Sprintf("~%d", n)
		b := base
		if len(b)+len(tail) > 8 {
			b = b[:8-len(tail)]
		}
		var s [11]byte
		copy(s[:], fmt.Sprintf("%-8s%-3s", b+tail, ext))
		if !used[s] {
			return s, nil
		}
	}
	return [11]byte{}, fmt.Errorf("no free short name for %q", name)
}

func shortChecksum(s [11]byte) byte {
	var sum byte
	for _, c := range s {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// lfnEntries returns the long-name directory entries for name, in the
// order they are stored (last part first).
func lfnEntries(name string, short [11]byte) [][32]byte {
	u := utf16.Encode([]rune(name))
	n := (len(u) + 12) / 13
	sum := shortChecksum(short)
	out := make([][32]byte, 0, n)
	for seq := n; seq >= 1; seq-- {
		var e [32]byte
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11] = 0x0f
		e[13] = sum
		for i := range 13 {
			k := (seq-1)*13 + i
			var c uint16
			switch {
			case k < len(u):
				c = u[k]
			case k == len(u):
				c = 0
			default:
				c = 0xffff
			}
			off := lfnCharOffset(i)
			e[off], e[off+1] = byte(c), byte(c>>8)
		}
		out = append(out, e)
	}
	return out
}

// lfnCharOffset is where the i-th of the 13 characters of a long-name
// entry lives.
func lfnCharOffset(i int) int {
	switch {
	case i < 5:
		return 1 + 2*i
	case i < 11:
		return 14 + 2*(i-5)
	default:
		return 28 + 2*(i-11)
	}
}

func lfnCount(name string) int {
	return (len(utf16.Encode([]rune(name))) + 12) / 13
}
