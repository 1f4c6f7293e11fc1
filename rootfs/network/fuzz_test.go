package network

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("# static\n[Match]\nMACAddress=52:54:00:ab:00:01\nName=eth* en*\n\n[Network]\nAddress=10.77.0.1/24\n" +
		"Address = fd00:77::1/64\nGateway=10.77.0.254\nDNS=10.77.0.53 \\\n    10.77.0.54\nDHCP=no\n\n" +
		"[Route]\nDestination=192.168.50.0/24\nGateway=10.77.0.253\n\n[Route]\nDestination=172.16.0.9\n"))
	f.Add([]byte("[Match]\nName=!en*\n[Network]\nDHCP=ipv4\n[Link]\nMTUBytes=9000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "/etc/systemd/network/10-x.network"
		_, err := Parse(name, data)
		var e *Error
		if err != nil && (!errors.As(err, &e) || len(e.Problems) == 0) {
			t.Fatalf("error is not an *Error with problems: %v", err)
		}
		// Every problem points at the file, and at a line of it.
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range problems(err) {
			if p.File != name || p.Line < 0 || p.Line > lines {
				t.Errorf("problem at %s:%d of a %d-line file: %s", p.File, p.Line, lines, p.Message)
			}
		}
		// A file that parses alone parses in a set, as the machine reads it.
		if _, serr := ParseAll("/etc/systemd/network", map[string][]byte{"10-x.network": data}); (err == nil) != (serr == nil) {
			t.Errorf("Parse: %v; ParseAll: %v", err, serr)
		}
	})
}

func problems(err error) []Problem {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return nil
}
