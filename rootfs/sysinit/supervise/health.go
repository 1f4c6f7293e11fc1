package supervise

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// Defaults for a health check that leaves its timings zero.
const (
	defaultInterval = 500 * time.Millisecond
	defaultTimeout  = time.Second
)

func interval(h *contract.Health) time.Duration {
	if h.IntervalMS > 0 {
		return time.Duration(h.IntervalMS) * time.Millisecond
	}
	return defaultInterval
}

func timeout(h *contract.Health) time.Duration {
	if h.TimeoutMS > 0 {
		return time.Duration(h.TimeoutMS) * time.Millisecond
	}
	return defaultTimeout
}

// Probe runs one health check: a TCP connect to 127.0.0.1:TCPPort, or a
// GET of HTTPURL that must answer 2xx.
func Probe(ctx context.Context, h *contract.Health) error {
	ctx, cancel := context.WithTimeout(ctx, timeout(h))
	defer cancel()
	switch {
	case h.TCPPort > 0:
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.TCPPort))
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp %s: %w", addr, err)
		}
		return c.Close()
	case h.HTTPURL != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.HTTPURL, nil)
		if err != nil {
			return fmt.Errorf("http %s: %w", h.HTTPURL, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("http %s: %w", h.HTTPURL, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("http %s: status %d", h.HTTPURL, resp.StatusCode)
		}
		return nil
	}
	return fmt.Errorf("health check has neither tcp_port nor http_url")
}
