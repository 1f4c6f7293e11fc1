package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// listener serves one handler on a fixed 127.0.0.1 address and can be
// stopped and started again there, as a restarted daemon would be.
type listener struct {
	addr string
	srv  *http.Server
	done chan error
	once sync.Once
	err  error
}

func listen(addr string, h http.Handler) (*listener, error) {
	var l net.Listener
	var err error
	// The old socket may linger for a moment after Shutdown.
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("fleetsim: listen %s: %w", addr, err)
	}
	s := &listener{addr: l.Addr().String(), srv: &http.Server{Handler: h}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

func (s *listener) URL() string { return "http://" + s.addr }

// stop closes the socket and waits for the requests under way; those
// still running after a while are cut off, as a killed daemon's would
// be. Stopping again returns the first stop's error.
func (s *listener) stop() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			s.srv.Close()
		} else if err != nil {
			s.err = err
		}
		if e := <-s.done; s.err == nil && !errors.Is(e, http.ErrServerClosed) {
			s.err = e
		}
	})
	return s.err
}
