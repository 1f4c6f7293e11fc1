package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// segments is how many files the ring is cut into: dropping the oldest
// keeps at least (segments-1)/segments of the budget.
const segments = 8

// minSegment keeps a tiny budget from making one file per line.
const minSegment = 16 << 10

// syncEvery bounds what a power cut loses: lines are in the page cache
// until then.
const syncEvery = time.Second

// Writer appends entries to the ring in dir, at most max bytes in all.
// Every Writer starts a new segment: a line torn by a power cut stays at
// the end of an old segment, where the reader skips it.
type Writer struct {
	dir    string
	max    int64
	segMax int64

	mu      sync.Mutex
	segs    []segment // oldest first; the last is open
	f       *os.File
	dirty   bool
	dropped int
	err     error // the last write error, reported once
	stop    chan struct{}
	done    chan struct{}

	closeOnce sync.Once
}

type segment struct {
	seq  uint64
	size int64
}

func (s segment) name() string { return fmt.Sprintf("%s%016d%s", segPrefix, s.seq, segSuffix) }

// Open continues the ring in dir, making it when missing.
func Open(dir string, limit int64) (*Writer, error) {
	if limit < 2*minSegment {
		return nil, fmt.Errorf("journal: size %d: want at least %d bytes", limit, 2*minSegment)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, max: limit, segMax: max(limit/segments, minSegment), segs: segs,
		stop: make(chan struct{}), done: make(chan struct{})}
	w.mu.Lock()
	err = w.rotate()
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go w.syncLoop()
	return w, nil
}

func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var segs []segment
	for _, de := range des {
		seq, ok := parseSegment(de.Name())
		if !ok {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		segs = append(segs, segment{seq: seq, size: info.Size()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

func parseSegment(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
	return seq, err == nil
}

// rotate closes the open segment, starts the next and drops the oldest
// until the ring fits its budget again.
func (w *Writer) rotate() error {
	if w.f != nil {
		w.f.Sync()
		w.f.Close()
		w.f = nil
	}
	next := segment{}
	if n := len(w.segs); n > 0 {
		next.seq = w.segs[n-1].seq + 1
	}
	f, err := os.OpenFile(filepath.Join(w.dir, next.name()), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	w.f = f
	w.segs = append(w.segs, next)
	total := int64(0)
	for _, s := range w.segs {
		total += s.size
	}
	for len(w.segs) > 1 && total+w.segMax > w.max {
		total -= w.segs[0].size
		os.Remove(filepath.Join(w.dir, w.segs[0].name()))
		w.segs = w.segs[1:]
	}
	return nil
}

// Write appends e. A full ROOT must not stop the machine: a failed write
// drops the line, and the count of dropped lines goes into the next line
// that does get written. The error is returned only when it changed.
func (w *Writer) Write(e Entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil // closed
	}
	if w.dropped > 0 {
		note, _ := json.Marshal(Entry{Time: e.Time, Boot: e.Boot, Service: Sysinit, Stream: "log",
			Message: fmt.Sprintf("journal: %d lines lost (%v)", w.dropped, w.err)})
		line = append(append(note, '\n'), line...)
	}
	cur := &w.segs[len(w.segs)-1]
	if cur.size > 0 && cur.size+int64(len(line)) > w.segMax {
		if err := w.rotate(); err != nil {
			return w.fail(err)
		}
		cur = &w.segs[len(w.segs)-1]
	}
	n, err := w.f.Write(line)
	cur.size += int64(n)
	if err != nil {
		if n > 0 {
			// Whatever part went out ends in a newline, so the next line
			// starts clean and the torn one is skipped on reading.
			m, _ := w.f.Write([]byte("\n"))
			cur.size += int64(m)
		}
		return w.fail(err)
	}
	w.dirty, w.dropped, w.err = true, 0, nil
	return nil
}

func (w *Writer) fail(err error) error {
	w.dropped++
	changed := w.err == nil || w.err.Error() != err.Error()
	w.err = err
	if changed {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (w *Writer) syncLoop() {
	defer close(w.done)
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Sync()
		}
	}
}

// Sync writes what was appended to the disk.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil || !w.dirty {
		return nil
	}
	w.dirty = false
	return w.f.Sync()
}

// Close syncs and closes the ring; later writes are dropped.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	w.f.Close()
	w.f = nil
	return err
}
