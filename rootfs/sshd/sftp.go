package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/pkg/sftp"
)

// sftpVerb is the hidden first argument that makes this binary the SFTP
// server of one session. The server runs in a child process with the
// user's credentials, as OpenSSH's sftp-server does, rather than inside
// sshd: a file request of a user must never be served with root's rights.
const sftpVerb = "sftp-server"

// sftpChild serves SFTP on stdin and stdout when this process was started
// as a session's SFTP server, and reports whether it was.
func sftpChild() bool {
	if len(os.Args) < 2 || os.Args[1] != sftpVerb {
		return false
	}
	if err := serveSFTP(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "sftp: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func serveSFTP(r io.Reader, w io.WriteCloser) error {
	dir, err := os.Getwd()
	if err != nil {
		dir = "/"
	}
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{r, w}, sftp.WithServerWorkingDirectory(dir))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// sftpCommand starts this binary as the user's SFTP server, in the
// user's home directory, the way command starts the user's shell.
func (s *session) sftpCommand() *exec.Cmd {
	cmd := s.command("", false)
	cmd.Path, cmd.Args = s.srv.self, []string{"sftp", sftpVerb}
	return cmd
}
