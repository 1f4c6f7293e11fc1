package deb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const arMagic = "!<arch>\n"

// arReader walks the members of a common-format ar archive, the container
// of every .deb. Debian members never need the GNU or BSD long-name tables.
type arReader struct {
	r      *bufio.Reader
	remain int64 // bytes of the current member not yet read
	pad    int64 // padding byte after an odd-sized member
}

type arMember struct {
	Name string
	Size int64
}

func newARReader(r io.Reader) (*arReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(arMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, fmt.Errorf("ar: read magic: %w", err)
	}
	if string(magic) != arMagic {
		return nil, errors.New("ar: not an ar archive (bad magic)")
	}
	return &arReader{r: br}, nil
}

// Next skips what is left of the current member and reads the next header.
// It returns io.EOF after the last member.
func (a *arReader) Next() (*arMember, error) {
	if _, err := io.CopyN(io.Discard, a.r, a.remain+a.pad); err != nil {
		return nil, fmt.Errorf("ar: skip member: %w", err)
	}
	a.remain, a.pad = 0, 0
	var hdr [60]byte
	n, err := io.ReadFull(a.r, hdr[:])
	if err == io.EOF || (err == io.ErrUnexpectedEOF && n == 1 && hdr[0] == '\n') {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("ar: read header: %w", err)
	}
	if string(hdr[58:60]) != "`\n" {
		return nil, errors.New("ar: corrupt member header")
	}
	name := strings.TrimRight(string(hdr[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar ends names with '/'
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("ar: member %q: bad size %q", name, hdr[48:58])
	}
	a.remain, a.pad = size, size%2
	return &arMember{Name: name, Size: size}, nil
}

// Read reads from the current member.
func (a *arReader) Read(p []byte) (int, error) {
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.r.Read(p)
	a.remain -= int64(n)
	if err == io.EOF && a.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
