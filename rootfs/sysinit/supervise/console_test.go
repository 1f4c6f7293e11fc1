package supervise

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
)

// openPTY returns a pseudo-terminal master and its slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// A console service owns the terminal: unprefixed output, and the tty
// is its controlling terminal in a session of its own.
func TestConsoleService(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	buf := &syncBuffer{}
	con := NewConsole(buf)
	s, err := New([]contract.Service{sh("shell", `echo "tty=$(tty) sid=$(ps -o sid= -p $$ 2>/dev/null || cut -d' ' -f6 /proc/$$/stat) pid=$$"; read line; echo "got $line"`,
		func(s *contract.Service) { s.Console = true })},
		Options{Console: con, Reaper: sharedReaper(), TTY: slave, BaseEnv: []string{"PATH=/usr/bin:/bin"},
			Logf: func(f string, a ...any) { con.Printf("sysinit: "+f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop(time.Second)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(5 * time.Second):
			t.Fatalf("no line from the console service; supervisor output:\n%s", buf.String())
			return ""
		}
	}
	first := next()
	var tty string
	var sid, pid int
	if _, err := fmt.Sscanf(first, "tty=%s sid=%d pid=%d", &tty, &sid, &pid); err != nil {
		t.Fatalf("line %q: %v", first, err)
	}
	if tty != slave {
		t.Errorf("tty = %s, want %s", tty, slave)
	}
	if sid != pid {
		t.Errorf("session %d, want its own (%d)", sid, pid)
	}
	master.Write([]byte("typed\n"))
	for l := next(); l != "got typed"; l = next() {
		if l != "typed" { // the terminal echoes input
			t.Fatalf("unexpected line %q", l)
		}
	}
	if strings.Contains(buf.String(), "[shell]") {
		t.Errorf("console service output was prefixed:\n%s", buf.String())
	}
}

func TestConsoleRecentKeepsTheLastLines(t *testing.T) {
	c := NewConsole(io.Discard)
	for i := 0; i < recentLines+5; i++ {
		c.Printf("line %d", i)
	}
	got := c.Recent()
	if len(got) != recentLines || got[0] != "line 5" || got[len(got)-1] != fmt.Sprintf("line %d", recentLines+4) {
		t.Errorf("Recent() = %d lines, first %q last %q", len(got), got[0], got[len(got)-1])
	}
}
