package supervise

import (
	"bufio"
	"bytes"
	"io"
)

// maxLine bounds one console line; longer output is split so a service
// that never prints a newline cannot make sysinit buffer without limit.
const maxLine = 4096

// copyPrefixed copies r to c line by line, each line prefixed. It returns
// at EOF or on a read error (the last writer closed the pipe).
func copyPrefixed(r io.Reader, c *Console, prefix string) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			c.Line(prefix + string(line))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}
