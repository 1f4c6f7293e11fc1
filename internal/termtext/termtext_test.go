package termtext

import (
	"bytes"
	"testing"
)

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// busybox ash asks for the cursor after its prompt.
		{"/ # \x1b[6nimgbuild-sysinit: httpd ready", "/ # imgbuild-sysinit: httpd ready"},
		// OVMF clears the screen and sets a mode before BdsDxe.
		{"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading", "BdsDxe: loading"},
		{"\x1b]0;title\x07text", "text"},
		{"\x1b]0;title\x1b\\text", "text"},
		{"\x1b(Bplain\x1bc", "plain"},
		{"a\rb\x00c\x7fd\te", "abcd\te"},
		{"multi\nline\n", "multi\nline\n"},
		{"kept: [6n without ESC", "kept: [6n without ESC"},
		{"utf-8 — é", "utf-8 — é"},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A sequence split across writes is still removed whole.
func TestWriterSplit(t *testing.T) {
	in := "/ # \x1b[6nok\x1b[01;01Hdone\n"
	for cut := 0; cut <= len(in); cut++ {
		var out bytes.Buffer
		w := NewWriter(&out)
		for _, part := range []string{in[:cut], in[cut:]} {
			if n, err := w.Write([]byte(part)); n != len(part) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", part, n, err)
			}
		}
		if got := out.String(); got != "/ # okdone\n" {
			t.Errorf("cut at %d: %q", cut, got)
		}
	}
}
