package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// listener serves one handler on a fixed 127.0.0.1 address and can be
// stopped and started again there, as a restarted daemon would be.
type listener struct {
	addr string
	srv  *http.Server
	done chan error
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

// stop waits for the requests under way, then closes the socket.
func (s *listener) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if e := <-s.done; err == nil && !errors.Is(e, http.ErrServerClosed) {
		err = e
	}
	return err
}
