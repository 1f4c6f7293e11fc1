package timeline

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteTranscript writes lines as "SECONDS CPU-SECONDS TEXT", one a
// line, the format ReadTranscript reads (and testdata keeps).
func WriteTranscript(w io.Writer, lines []Line) error {
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		fmt.Fprintf(bw, "%.3f %.3f %s\n", l.At.Seconds(), l.CPU.Seconds(), l.Text)
	}
	return bw.Flush()
}

// ReadTranscript reads what WriteTranscript wrote.
func ReadTranscript(r io.Reader) ([]Line, error) {
	var lines []Line
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; s.Scan(); n++ {
		at, rest, _ := strings.Cut(s.Text(), " ")
		cpu, text, _ := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(at, 64)
		c, err2 := strconv.ParseFloat(cpu, 64)
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("transcript line %d: want SECONDS CPU-SECONDS TEXT", n)
		}
		lines = append(lines, Line{At: seconds(v), CPU: seconds(c), Text: text})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	return lines, nil
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
