// Package journal keeps the machine's log: every service's output and
// sysinit's own lines as JSON lines in a bounded ring of segment files
// on ROOT, so that they survive reboots and rollbacks (both slots share
// ROOT). The machine writes it; the host reads it back from a stopped
// disk image through any fs.FS (imgbuild logs), and so does the
// on-image reader.
package journal

import (
	"time"
)

// Entry is one line of the log.
type Entry struct {
	Time time.Time `json:"time"`
	// Boot is the kernel's boot id (/proc/sys/kernel/random/boot_id).
	Boot string `json:"boot"`
	// Service is a service's name, or Sysinit for sysinit's own lines.
	Service string `json:"service"`
	// Stream is "stdout" or "stderr" for a service, "log" for sysinit.
	Stream  string `json:"stream"`
	Message string `json:"msg"`
}

// Sysinit is the service name of sysinit's own lines.
const Sysinit = "sysinit"

// Names of the segment files: seq is zero-padded, so names sort in
// the order they were written.
const (
	segPrefix = "log-"
	segSuffix = ".jsonl"
)
