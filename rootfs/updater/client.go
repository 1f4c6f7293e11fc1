package updater

import (
	"context"
	"net"
	"net/http"
	"time"
)

// stallTimeout ends a transfer that moves no byte for this long, so a
// dead server or link becomes an error (and a retry that resumes with
// Range) instead of an agent waiting forever.
const stallTimeout = 60 * time.Second

// httpClient is the agent's client: no overall timeout (a payload may
// take long on a slow link) but one per stalled read or write.
var httpClient = &http.Client{Transport: &http.Transport{
	Proxy: nil,
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c}, nil
	},
	ResponseHeaderTimeout: stallTimeout,
	IdleConnTimeout:       30 * time.Second,
}}

// idleConn pushes its deadline forward on every read and write.
type idleConn struct{ net.Conn }

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(stallTimeout))
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(stallTimeout))
	return c.Conn.Write(b)
}

func (s Source) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return httpClient
}
