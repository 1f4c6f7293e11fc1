package supervise

import (
	"bufio"
	"bytes"
	"io"
)

// maxLine bounds one console line; longer output is split so a service
// that never prints a newline cannot make sysinit buffer without limit.
const maxLine = 4096

// copyLines copies r, a service's output stream, to c line by line. It
// returns at EOF or on a read error (the last writer closed the pipe).
func copyLines(r io.Reader, c *Console, service, stream string) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			c.ServiceLine(service, stream, string(line))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}
