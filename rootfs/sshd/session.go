package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/imgbuild/imgbuild/internal/procenv"
	"golang.org/x/crypto/ssh"
)

// drainWait bounds how long output is still copied after the command
// exited: a background child holding the terminal or pipe open must not
// keep the session (and the exit status) waiting.
const drainWait = 2 * time.Second

// session is one "session" channel: at most one shell or command.
type session struct {
	srv           *server
	ch            ssh.Channel
	acct          account
	remote, local net.Addr

	env   []string
	term  string
	size  pty.Winsize
	tty   bool
	mu    sync.Mutex
	ptmx  *os.File
	cmd   *exec.Cmd
	start bool
}

// RFC 4254 request payloads.
type (
	ptyRequest struct {
		Term             string
		Cols, Rows, W, H uint32
		Modes            string
	}
	windowChange  struct{ Cols, Rows, W, H uint32 }
	envRequest    struct{ Name, Value string }
	execRequest   struct{ Command string }
	signalRequest struct{ Signal string }
)

func (s *session) serve(reqs <-chan *ssh.Request) {
	defer s.ch.Close()
	for req := range reqs {
		ok := s.request(req)
		if req.WantReply {
			req.Reply(ok, nil)
		}
	}
	s.mu.Lock()
	if s.cmd != nil && s.cmd.Process != nil {
		// The client went away: end what it started, as sshd does with SIGHUP.
		s.cmd.Process.Signal(syscall.SIGHUP)
	}
	s.mu.Unlock()
}

func (s *session) request(req *ssh.Request) bool {
	switch req.Type {
	case "env":
		var r envRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || r.Name == "" || strings.ContainsAny(r.Name, "=\x00") {
			return false
		}
		s.env = append(s.env, r.Name+"="+r.Value)
		return true
	case "pty-req":
		var r ptyRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || s.start {
			return false
		}
		s.tty, s.term = true, r.Term
		s.size = pty.Winsize{Cols: uint16(r.Cols), Rows: uint16(r.Rows), X: uint16(r.W), Y: uint16(r.H)}
		return true
	case "window-change":
		var r windowChange
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		return s.resize(pty.Winsize{Cols: uint16(r.Cols), Rows: uint16(r.Rows), X: uint16(r.W), Y: uint16(r.H)})
	case "shell", "exec":
		var r execRequest
		if req.Type == "exec" && ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		if s.start {
			return false
		}
		s.start = true
		return s.start1(req.Type, s.command(r.Command, req.Type == "shell"))
	case "signal":
		var r signalRequest
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		return s.signal(r.Signal)
	case "subsystem":
		var r execRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || s.start {
			return false
		}
		if r.Command != "sftp" {
			s.srv.logf("%s: subsystem %q is not supported (only sftp)", s.acct.Name, r.Command)
			return false
		}
		s.start = true
		s.tty = false // the SFTP protocol needs a clean 8-bit pipe
		return s.start1("sftp", s.sftpCommand())
	}
	return false
}

// start1 starts the session's one program and says why on the client's
// stderr and in the log when it cannot.
func (s *session) start1(what string, cmd *exec.Cmd) bool {
	if err := s.run(cmd); err != nil {
		s.srv.logf("%s: %s: %v", s.acct.Name, what, err)
		fmt.Fprintf(s.ch.Stderr(), "imgbuild sshd: %v\r\n", err)
		return false
	}
	return true
}

func (s *session) resize(ws pty.Winsize) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = ws
	if s.ptmx == nil {
		return s.tty
	}
	return pty.Setsize(s.ptmx, &ws) == nil
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "QUIT": syscall.SIGQUIT,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "ALRM": syscall.SIGALRM,
	"PIPE": syscall.SIGPIPE, "ABRT": syscall.SIGABRT,
}

func (s *session) signal(name string) bool {
	sig, ok := signals[name]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || s.cmd == nil || s.cmd.Process == nil {
		return false
	}
	return s.cmd.Process.Signal(sig) == nil
}

// command builds the user's shell: a login shell, or sh -c COMMAND.
func (s *session) command(command string, login bool) *exec.Cmd {
	shell := s.acct.Shell
	if _, err := os.Stat(shell); err != nil {
		shell = "/usr/bin/sh"
	}
	cmd := &exec.Cmd{Path: shell, Args: []string{filepath.Base(shell), "-c", command}}
	if login {
		cmd.Args = []string{"-" + filepath.Base(shell)}
	}
	cmd.Env = s.environ(shell)
	cmd.Dir = "/"
	if st, err := os.Stat(s.acct.Home); err == nil && st.IsDir() {
		cmd.Dir = s.acct.Home
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = s.acct.Credential()
	}
	return cmd
}

// environ is the client's variables, then the ones that say who the
// user is, which the client may not set.
func (s *session) environ(shell string) []string {
	env := append([]string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin"}, s.env...)
	if s.tty {
		env = append(env, "TERM="+s.term)
	}
	rh, rp, _ := net.SplitHostPort(s.remote.String())
	lh, lp, _ := net.SplitHostPort(s.local.String())
	env = append(env, "HOME="+s.acct.Home, "USER="+s.acct.Name, "LOGNAME="+s.acct.Name, "SHELL="+shell,
		fmt.Sprintf("SSH_CONNECTION=%s %s %s %s", rh, rp, lh, lp))
	return procenv.Dedup(env)
}

// run starts the command and, when it ends, sends its exit status and
// closes the channel.
func (s *session) run(cmd *exec.Cmd) error {
	if os.Geteuid() != 0 && s.acct.UID != uint32(os.Geteuid()) {
		return fmt.Errorf("cannot become %s: this server does not run as root", s.acct.Name)
	}
	var drained <-chan struct{}
	var err error
	if s.tty {
		drained, err = s.startTTY(cmd)
	} else {
		drained, err = s.startPipes(cmd)
	}
	if err != nil {
		return err
	}
	go s.finish(cmd, drained)
	return nil
}

func (s *session) startPipes(cmd *exec.Cmd) (<-chan struct{}, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = s.ch, s.ch.Stderr()
	cmd.WaitDelay = drainWait
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	go func() {
		io.Copy(stdin, s.ch)
		stdin.Close()
	}()
	done := make(chan struct{})
	close(done) // Wait itself copies the output
	return done, nil
}

func (s *session) startTTY(cmd *exec.Cmd) (<-chan struct{}, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	if os.Geteuid() == 0 {
		// The user owns the terminal, as login(1) makes it.
		tty.Chown(int(s.acct.UID), int(s.acct.GID))
		tty.Chmod(0o620)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := pty.Setsize(ptmx, &s.size); err != nil {
		ptmx.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setctty = true
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, err
	}
	s.cmd, s.ptmx = cmd, ptmx
	go io.Copy(ptmx, s.ch)
	done := make(chan struct{})
	go func() {
		io.Copy(s.ch, ptmx) // ends with EIO once every holder of the terminal closed it
		close(done)
	}()
	return done, nil
}

func (s *session) finish(cmd *exec.Cmd, drained <-chan struct{}) {
	err := cmd.Wait()
	select {
	case <-drained:
	case <-time.After(drainWait):
	}
	s.mu.Lock()
	if s.ptmx != nil {
		s.ptmx.Close()
	}
	s.mu.Unlock()
	s.ch.CloseWrite()
	s.sendExit(cmd, err)
	s.ch.Close()
}

func (s *session) sendExit(cmd *exec.Cmd, err error) {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && cmd.ProcessState == nil {
		s.srv.logf("%s: wait: %v", s.acct.Name, err)
		return
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		name := strings.TrimPrefix(signalName(ws.Signal()), "SIG")
		s.ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Msg, Lang  string
		}{name, ws.CoreDump(), "", ""}))
		return
	}
	s.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ws.ExitStatus())}))
}

func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	return fmt.Sprintf("%d", int(sig))
}
