package main

import (
	"fmt"
	"io"
	"os"
)

// deviceSize is the size in bytes of a block device or regular file:
// lseek to the end works for both.
func deviceSize(f *os.File) (int64, error) {
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("%s: size: %w", f.Name(), err)
	}
	return n, nil
}
