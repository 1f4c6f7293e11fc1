// Package procenv holds what the programs that start processes on the
// image (sysinit's supervisor, sshd's sessions) share about environments.
package procenv

import "strings"

// Dedup keeps the last value of each key, in the place it was last set:
// libc's getenv returns the first, and a later, more specific setting
// (a service's own env, a client's) must override the defaults.
func Dedup(env []string) []string {
	last := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	var out []string
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}
