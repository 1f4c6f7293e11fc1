package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// server accepts SSH connections; public-key authentication only.
type server struct {
	hostKey     ssh.Signer
	keyDirs     []string // one authorized_keys file per user in each
	passwd      string
	group       string
	authTimeout time.Duration // from connect to authenticated
	idleTimeout time.Duration // no traffic either way
	forwarding  bool          // direct-tcpip channels (ssh -L) allowed
	self        string        // this binary, started again as a session's SFTP server
	logf        func(string, ...any)
}

// serve accepts connections until l is closed.
func (s *server) serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		go s.handle(c)
	}
}

// attempt remembers why a connection's authentication failed, so one
// line can say it once the client gives up.
type attempt struct {
	mu      sync.Mutex
	user    string
	reason  string
	methods []string
}

func (a *attempt) note(user, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.user, a.reason = user, reason
}

func (s *server) config(a *attempt) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-imgbuild",
		MaxAuthTries:  6,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return s.checkKey(a, meta.User(), key)
		},
		AuthLogCallback: func(meta ssh.ConnMetadata, method string, err error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.user == "" {
				a.user = meta.User()
			}
			a.methods = append(a.methods, method)
			if method != "none" && method != "publickey" {
				a.reason = method + " authentication is not offered: public keys only"
			}
		},
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

func (s *server) checkKey(a *attempt, user string, key ssh.PublicKey) (*ssh.Permissions, error) {
	acct, err := lookupAccount(user, s.passwd, s.group)
	if err != nil {
		a.note(user, err.Error())
		return nil, err
	}
	keys, skipped, err := authorizedKeys(s.keyDirs, acct.Name)
	for _, sk := range skipped {
		s.logf("skipped %s", sk)
	}
	if err != nil {
		a.note(user, err.Error())
		return nil, err
	}
	if len(keys) == 0 {
		a.note(user, "no authorized keys for "+user)
		return nil, fmt.Errorf("no authorized keys for %s", user)
	}
	want := key.Marshal()
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), want) {
			return &ssh.Permissions{Extensions: map[string]string{"key": ssh.FingerprintSHA256(key)}}, nil
		}
	}
	reason := fmt.Sprintf("key %s %s is not authorized for %s", key.Type(), ssh.FingerprintSHA256(key), user)
	a.note(user, reason)
	return nil, errors.New(reason)
}

func (s *server) handle(raw net.Conn) {
	c := newIdleConn(raw, s.idleTimeout, func() {
		s.logf("closed %s: idle for %v", raw.RemoteAddr(), s.idleTimeout)
	})
	defer c.Close()
	raw.SetDeadline(time.Now().Add(s.authTimeout))
	a := &attempt{}
	conn, chans, reqs, err := ssh.NewServerConn(c, s.config(a))
	if err != nil {
		s.logRefusal(raw.RemoteAddr(), a, err)
		return
	}
	raw.SetDeadline(time.Time{})
	defer conn.Close()
	s.logf("accepted %s from %s with key %s", conn.User(), raw.RemoteAddr(), conn.Permissions.Extensions["key"])
	go ssh.DiscardRequests(reqs)
	acct, err := lookupAccount(conn.User(), s.passwd, s.group)
	if err != nil {
		s.logf("%s: %v", conn.User(), err)
		return
	}
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
		case "direct-tcpip":
			go s.forward(acct.Name, nc)
			continue
		default:
			nc.Reject(ssh.UnknownChannelType, nc.ChannelType()+" channels are not supported")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		sess := &session{srv: s, ch: ch, acct: acct, remote: raw.RemoteAddr(), local: raw.LocalAddr()}
		go sess.serve(chReqs)
	}
}

// logRefusal says in one line why a connection did not get in. A
// connection that never tried to authenticate and just closed (a TCP
// health check) is not worth a line.
func (s *server) logRefusal(addr net.Addr, a *attempt, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.reason != "":
		s.logf("refused %s from %s: %s", a.user, addr, a.reason)
	case len(a.methods) > 0:
		s.logf("refused %s from %s: offered no public key (tried %s); only public keys are accepted, no passwords", a.user, addr, strings.Join(a.methods, ", "))
	case errors.Is(err, io.EOF):
	default:
		s.logf("connection from %s: %v", addr, err)
	}
}
