// Command sshd is the image's SSH server, run by sysinit as a service.
// It takes public keys only: from the manifest (on verified USR) and
// from the per-machine config (on ROOT), one authorized_keys file per
// user. Its ed25519 host key is made on the first boot and kept on ROOT,
// and its fingerprint is printed on the console so that an operator can
// check the first connection.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/contract"
)

func main() {
	if sftpChild() {
		return
	}
	addr := flag.String("addr", ":22", "address to listen on")
	hostKey := flag.String("host-key", contract.SSHHostKey, "ed25519 host key, made when missing")
	authTimeout := flag.Duration("auth-timeout", 30*time.Second, "time a client has to authenticate")
	idleTimeout := flag.Duration("idle-timeout", 30*time.Minute, "close connections without traffic for this long (0: never)")
	forwarding := flag.Bool("forwarding", true, "allow local port forwarding (direct-tcpip channels, ssh -L)")
	flag.Parse()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if err := run(*addr, *hostKey, *authTimeout, *idleTimeout, *forwarding, logf); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}

func run(addr, hostKeyPath string, authTimeout, idleTimeout time.Duration, forwarding bool, logf func(string, ...any)) error {
	key, generated, err := loadHostKey(hostKeyPath, logf)
	if err != nil {
		return err
	}
	what := "host key"
	if generated {
		what = "new host key"
	}
	logf("%s %s (%s)", what, ssh.FingerprintSHA256(key.PublicKey()), key.PublicKey().Type())
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		<-sigs
		l.Close()
	}()
	logf("listening on %s", l.Addr())
	s := &server{hostKey: key, keyDirs: []string{contract.SSHKeysUSR, contract.SSHKeysMachine},
		passwd: "/etc/passwd", group: "/etc/group", authTimeout: authTimeout, idleTimeout: idleTimeout,
		forwarding: forwarding, self: self(), logf: logf}
	return s.serve(l)
}

// self is this binary's path, for starting it again as an SFTP server.
func self() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}
