// Package termtext turns a serial console's output into plain text for
// logs: a console carries terminal control sequences (the firmware's
// screen clears, busybox's ESC[6n cursor query after every prompt) that
// a terminal acts on but a log file or a CI page shows as garbage.
package termtext

import "io"

// state of the sequence being skipped.
type state int

const (
	text   state = iota
	esc          // after ESC
	csi          // in ESC [ ... final
	str          // in an OSC/DCS/APC/PM string, until BEL or ESC \
	strEsc       // ESC inside a string (ESC \ ends it)
)

// Filter strips control sequences from a stream that may split them
// across writes. The zero value is ready.
type Filter struct{ st state }

// Append appends p to dst without its control sequences and C0
// controls other than tab and newline; a sequence cut off at the end of
// p is skipped on when the next call continues it.
func (f *Filter) Append(dst, p []byte) []byte {
	for _, c := range p {
		switch f.st {
		case text:
			switch {
			case c == 0x1b:
				f.st = esc
			case c == '\t' || c == '\n' || c >= 0x20 && c != 0x7f:
				dst = append(dst, c)
			}
		case esc:
			switch c {
			case '[':
				f.st = csi
			case ']', 'P', '_', '^', 'X':
				f.st = str
			default:
				// A two-byte sequence (ESC c, ESC 7, ...); an
				// intermediate byte (ESC ( B) keeps the sequence
				// open for its final byte.
				if c < 0x20 || c > 0x2f {
					f.st = text
				}
			}
		case csi:
			if c >= 0x40 && c <= 0x7e {
				f.st = text
			}
		case str:
			switch c {
			case 0x07:
				f.st = text
			case 0x1b:
				f.st = strEsc
			}
		case strEsc:
			if c == '\\' {
				f.st = text
			} else {
				f.st = str
			}
		}
	}
	return dst
}

// String returns s as plain text.
func String(s string) string {
	var f Filter
	return string(f.Append(nil, []byte(s)))
}

// Writer writes plain text to w.
type Writer struct {
	w   io.Writer
	f   Filter
	buf []byte
}

// NewWriter returns a writer that strips control sequences on their way
// to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p's text; it reports all of p written once w took the
// text.
func (w *Writer) Write(p []byte) (int, error) {
	w.buf = w.f.Append(w.buf[:0], p)
	if len(w.buf) == 0 {
		return len(p), nil
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
