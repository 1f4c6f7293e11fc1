package main

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// dialTimeout bounds a forward's connect: a client must learn soon that
// nothing listens there rather than hold a channel open.
const dialTimeout = 10 * time.Second

// directTCPIP is RFC 4254 7.2's payload of a "direct-tcpip" channel,
// what `ssh -L` opens for every connection it forwards.
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// forward connects a direct-tcpip channel to the address it names, from
// this machine, and copies both ways until both sides have closed.
func (s *server) forward(user string, nc ssh.NewChannel) {
	if !s.forwarding {
		s.logf("%s: refused a port forward: forwarding is off (the manifest's ssh.forwarding)", user)
		nc.Reject(ssh.Prohibited, "port forwarding is off on this machine (the manifest's ssh.forwarding)")
		return
	}
	var req directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil || req.Port > 65535 {
		nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		s.logf("%s: forward to %s: %v", user, addr, err)
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		io.Copy(c, ch)
		c.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		defer wg.Done()
		io.Copy(ch, c)
		ch.CloseWrite()
	}()
	wg.Wait()
	ch.Close()
	c.Close()
}
