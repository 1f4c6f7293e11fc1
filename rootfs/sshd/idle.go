package main

import (
	"net"
	"sync/atomic"
	"time"
)

// idleConn closes itself when no byte has gone either way for timeout.
// Traffic in either direction counts: a command printing output for an
// hour while its user only watches is not idle.
type idleConn struct {
	net.Conn
	timeout time.Duration
	last    atomic.Int64 // unix nanoseconds of the last read or write
	timer   *time.Timer
	onIdle  func()
}

func newIdleConn(c net.Conn, timeout time.Duration, onIdle func()) net.Conn {
	if timeout <= 0 {
		return c
	}
	ic := &idleConn{Conn: c, timeout: timeout, onIdle: onIdle}
	ic.touch()
	ic.timer = time.AfterFunc(timeout, ic.check)
	return ic
}

func (c *idleConn) touch() { c.last.Store(time.Now().UnixNano()) }

// check closes the connection or re-arms for the rest of the timeout.
func (c *idleConn) check() {
	left := c.timeout - time.Since(time.Unix(0, c.last.Load()))
	if left <= 0 {
		c.onIdle()
		c.Conn.Close()
		return
	}
	c.timer.Reset(left)
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}
