package main

import (
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/journal"
)

// openJournal attaches the journal on ROOT to the console: the lines
// written so far go first. Without one the machine still runs, with its
// console lines only.
func (s *sysinit) openJournal() {
	if s.cfg.JournalBytes == 0 {
		return
	}
	w, err := journal.Open(contract.JournalDir, s.cfg.JournalBytes)
	if err != nil {
		s.logf("%v (console only)", err)
		return
	}
	s.journal = w
	s.con.Attach(w, bootID())
}

// closeJournal syncs it before ROOT goes read-only; the lines after that
// are on the console only.
func (s *sysinit) closeJournal() {
	if s.journal != nil {
		s.journal.Close()
	}
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
