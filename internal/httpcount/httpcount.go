// Package httpcount counts the bytes an HTTP handler sends, by request
// path: the update tests and the benchmark measure with it what an
// update downloads.
package httpcount

import (
	"net/http"
	"strings"
	"sync"
)

// Handler is a handler whose answers' bytes are counted.
type Handler struct {
	h    http.Handler
	mu   sync.Mutex
	sent map[string]int64
}

// New counts what h sends.
func New(h http.Handler) *Handler { return &Handler{h: h, sent: map[string]int64{}} }

type writer struct {
	http.ResponseWriter
	n *int64
}

func (w writer) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	*w.n += int64(n)
	return n, err
}

// ServeHTTP implements http.Handler.
func (c *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n int64
	c.h.ServeHTTP(writer{w, &n}, r)
	c.mu.Lock()
	c.sent[r.URL.Path] += n
	c.mu.Unlock()
}

// Total is the bytes of bodies sent for paths that start with prefix.
func (c *Handler) Total(prefix string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for p, v := range c.sent {
		if strings.HasPrefix(p, prefix) {
			n += v
		}
	}
	return n
}
