package network

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/imgbuild/imgbuild/internal/textdist"
)

// Problem is one thing wrong with a .network file, at a line (1-based;
// 0 for the file as a whole) and, when there is one, a section and key.
type Problem struct {
	File    string
	Line    int
	Section string // without brackets
	Key     string
	Message string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	switch {
	case p.Key != "":
		return fmt.Sprintf("%s: [%s] %s=: %s", loc, p.Section, p.Key, p.Message)
	case p.Section != "":
		return fmt.Sprintf("%s: [%s]: %s", loc, p.Section, p.Message)
	}
	return loc + ": " + p.Message
}

// Error lists every problem found in a set of files.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return "network files: " + strings.Join(s, "; ")
}

// File is one parsed, checked .network file.
type File struct {
	Path    string
	Match   Match
	Network Network
	Routes  []Route
}

// Match is the [Match] section: a NIC matches when every condition set
// holds; a file with none matches every NIC, as in systemd.
type Match struct {
	// Names are shell globs (fnmatch, as systemd); a NIC matches one of
	// them, or none of them when InvertName ("Name=!eth*").
	Names      []string
	InvertName bool
	MACs       []net.HardwareAddr
	InvertMAC  bool
}

// Network is the [Network] section.
type Network struct {
	Addresses []netip.Prefix // address and prefix length
	Gateways  []netip.Addr   // default routes, at most one per family
	DNS       []netip.Addr
	DHCP      bool // DHCPv4 on the NIC, beside any static address
}

// Route is one [Route] section. A zero Destination is the default
// route; a zero Gateway is a route on the link.
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
}

// Sections and keys imgbuild applies; everything else is refused.
var known = map[string][]string{
	"Match":   {"MACAddress", "Name"},
	"Network": {"Address", "DHCP", "DNS", "Gateway"},
	"Route":   {"Destination", "Gateway"},
}

// parser holds one file's state; problems accumulate so that one run
// names all of them.
type parser struct {
	f     *File
	probs []Problem
	// gateways and route gateways with their lines, for the on-link
	// check once the whole file is read.
	gwLines    []int
	routeLines []int // each [Route]'s header
	routeGw    []int // each [Route]'s Gateway=
}

func (p *parser) add(line int, section, key, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.f.Path, Line: line, Section: section, Key: key, Message: fmt.Sprintf(format, args...)})
}

// Parse parses and checks one .network file; name is how problems name
// it (its path on the machine, or in a config). The error is an *Error.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{f: &File{Path: name}}
	section := ""
	skip := false // inside a refused section: its keys are not named again
	for _, l := range logicalLines(string(data)) {
		line := l.text
		switch {
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				p.add(l.no, "", "", "invalid section header %q", line)
				section, skip = "", true
				continue
			}
			section = line[1 : len(line)-1]
			_, ok := known[section]
			skip = !ok
			if !ok {
				p.add(l.no, section, "", "section not supported by imgbuild images%s", suggestSection(section))
				continue
			}
			if section == "Route" {
				p.f.Routes = append(p.f.Routes, Route{})
				p.routeLines = append(p.routeLines, l.no)
				p.routeGw = append(p.routeGw, l.no)
			}
		case strings.HasPrefix(line, "."):
			p.add(l.no, "", "", "directive %q not supported", strings.Fields(line)[0])
		default:
			key, value, ok := strings.Cut(line, "=")
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			switch {
			case !ok:
				p.add(l.no, section, "", "line %q is not KEY=VALUE", line)
			case key == "":
				p.add(l.no, section, "", "assignment with no key")
			case section == "" && !skip:
				p.add(l.no, "", "", "%s= outside of any section", key)
			case skip:
			default:
				p.assign(l.no, section, key, value)
			}
		}
	}
	p.checkOnLink()
	if len(p.probs) > 0 {
		return nil, &Error{Problems: p.probs}
	}
	return p.f, nil
}

type logicalLine struct {
	no   int
	text string
}

// logicalLines applies systemd's line rules: whitespace around a line is
// dropped, empty lines and lines starting # or ; are comments, and a
// line ending in a backslash continues on the next (the backslash
// becomes a space; comment lines inside a continuation are skipped). Each
// logical line keeps the number of its first physical line.
func logicalLines(s string) []logicalLine {
	var out []logicalLine
	var cont *logicalLine
	for i, raw := range strings.Split(s, "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if cont == nil && line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		more := strings.HasSuffix(line, "\\")
		if more {
			line = strings.TrimSuffix(line, "\\") + " "
		}
		if cont == nil {
			cont = &logicalLine{no: i + 1}
		}
		cont.text += line
		if !more {
			cont.text = strings.TrimSpace(cont.text)
			out = append(out, *cont)
			cont = nil
		}
	}
	if cont != nil {
		cont.text = strings.TrimSpace(cont.text)
		out = append(out, *cont)
	}
	return out
}

func (p *parser) assign(line int, section, key, value string) {
	bad := func(format string, args ...any) { p.add(line, section, key, format, args...) }
	f := p.f
	switch section + "." + key {
	case "Match.Name":
		if value == "" { // an empty assignment resets the list, as in systemd
			f.Match.Names, f.Match.InvertName = nil, false
			return
		}
		inv, globs := invert(value)
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				bad("bad glob %q: %v", g, err)
				return
			}
		}
		f.Match.Names, f.Match.InvertName = append(f.Match.Names, globs...), inv
	case "Match.MACAddress":
		if value == "" {
			f.Match.MACs, f.Match.InvertMAC = nil, false
			return
		}
		inv, words := invert(value)
		for _, w := range words {
			mac, err := net.ParseMAC(w)
			if err != nil || len(mac) != 6 {
				bad("%q is not a MAC address (want xx:xx:xx:xx:xx:xx)", w)
				return
			}
			f.Match.MACs = append(f.Match.MACs, mac)
		}
		f.Match.InvertMAC = inv
	case "Network.Address":
		if value == "" {
			f.Network.Addresses = nil
			return
		}
		pfx, err := netip.ParsePrefix(value)
		switch {
		case err != nil:
			bad("%q is not ADDRESS/PREFIXLENGTH (e.g. 10.0.0.5/24)", value)
		case pfx.Addr().IsUnspecified():
			bad("%s: an address from a pool is not supported; give the address", value)
		default:
			f.Network.Addresses = append(f.Network.Addresses, pfx)
		}
	case "Network.Gateway":
		if value == "" {
			f.Network.Gateways, p.gwLines = nil, nil
			return
		}
		gw, err := parseAddr(value)
		if err != nil {
			bad("%v", err)
			return
		}
		for _, g := range f.Network.Gateways {
			if g.Is4() == gw.Is4() {
				bad("a second %s gateway (%s after %s): one default route per address family", family(gw), gw, g)
				return
			}
		}
		f.Network.Gateways = append(f.Network.Gateways, gw)
		p.gwLines = append(p.gwLines, line)
	case "Network.DNS":
		if value == "" {
			f.Network.DNS = nil
			return
		}
		for _, w := range strings.Fields(value) {
			ip, err := parseAddr(w)
			if err != nil {
				bad("%v", err)
				return
			}
			f.Network.DNS = append(f.Network.DNS, ip)
		}
	case "Network.DHCP":
		switch strings.ToLower(value) {
		case "", "no", "n", "false", "f", "off", "0":
			f.Network.DHCP = false
		case "yes", "y", "true", "t", "on", "1", "ipv4":
			f.Network.DHCP = true
		case "ipv6":
			bad("DHCPv6 is not supported (yes, ipv4 or no)")
		default:
			bad("%q: want yes, ipv4 or no", value)
		}
	case "Route.Destination", "Route.Gateway":
		r := &f.Routes[len(f.Routes)-1]
		if value == "" {
			if key == "Gateway" {
				r.Gateway = netip.Addr{}
			} else {
				r.Destination = netip.Prefix{}
			}
			return
		}
		if key == "Gateway" {
			gw, err := parseAddr(value)
			if err != nil {
				bad("%v", err)
				return
			}
			r.Gateway = gw
			p.routeGw[len(p.routeGw)-1] = line
			return
		}
		pfx, err := netip.ParsePrefix(value)
		if err != nil {
			// A bare address is a host route, as in systemd.
			a, aerr := netip.ParseAddr(value)
			if aerr != nil || a.Zone() != "" {
				bad("%q is not an address or ADDRESS/PREFIXLENGTH", value)
				return
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		r.Destination = pfx.Masked()
	default:
		p.add(line, section, key, "unknown key%s", suggestKey(section, key))
	}
}

// invert splits a list value, with systemd's leading "!" for "none of".
func invert(value string) (bool, []string) {
	inv := strings.HasPrefix(value, "!")
	return inv, strings.Fields(strings.TrimPrefix(value, "!"))
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%s is not a usable address", s)
	}
	return a.Unmap(), nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// checkOnLink: without DHCP, a gateway must be on a subnet of one of the
// file's addresses, or the kernel cannot reach it (GatewayOnLink= is
// not supported). With DHCP the lease may bring that subnet.
func (p *parser) checkOnLink() {
	f := p.f
	onLink := func(gw netip.Addr) bool {
		if f.Network.DHCP {
			return true
		}
		for _, a := range f.Network.Addresses {
			if a.Masked().Contains(gw) {
				return true
			}
		}
		return false
	}
	for i, gw := range f.Network.Gateways {
		if !onLink(gw) {
			p.add(p.gwLines[i], "Network", "Gateway", "%s is on no subnet of this file's Address= (and DHCP is off)", gw)
		}
	}
	for i, r := range f.Routes {
		switch {
		case !r.Gateway.IsValid() && !r.Destination.IsValid():
			p.add(p.routeLines[i], "Route", "", "neither Destination= nor Gateway=")
		case !r.Gateway.IsValid():
		case r.Destination.IsValid() && r.Destination.Addr().Is4() != r.Gateway.Is4():
			p.add(p.routeGw[i], "Route", "Gateway", "%s and Destination=%s are not of one address family", r.Gateway, r.Destination)
		case !onLink(r.Gateway):
			p.add(p.routeGw[i], "Route", "Gateway", "%s is on no subnet of this file's Address= (and DHCP is off)", r.Gateway)
		}
	}
}

func suggestKey(section, key string) string {
	return suggest(key, known[section], "keys of ["+section+"] imgbuild applies")
}

func suggestSection(section string) string {
	names := make([]string, 0, len(known))
	for s := range known {
		names = append(names, s)
	}
	sort.Strings(names)
	return suggest(section, names, "sections imgbuild applies")
}

func suggest(got string, names []string, what string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := textdist.Levenshtein(strings.ToLower(got), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return fmt.Sprintf(" (%s: %s)", what, strings.Join(names, ", "))
}
