package supervise

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Identity is what a service runs as.
type Identity struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, set with setgroups
	Home   string
}

// Credential converts to the form os.StartProcess takes.
func (id Identity) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// LookupUser resolves spec ("uid", "uid:gid", "name" or "name:group")
// against passwd and group contents (either may be nil).
func LookupUser(spec string, passwd, group io.Reader) (Identity, error) {
	users, err := parsePasswd(passwd)
	if err != nil {
		return Identity{}, err
	}
	groups, err := parseGroup(group)
	if err != nil {
		return Identity{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		return Identity{}, fmt.Errorf("user %q: empty user", spec)
	}
	id, err := resolveUser(userPart, users)
	if err != nil {
		return Identity{}, fmt.Errorf("user %q: %w", spec, err)
	}
	if hasGroup {
		gid, err := resolveGroup(groupPart, groups)
		if err != nil {
			return Identity{}, fmt.Errorf("user %q: %w", spec, err)
		}
		id.GID = gid
	}
	id.Groups = supplementary(id, groups)
	return id, nil
}

// LookupUserFiles is LookupUser reading the given files; a missing file
// counts as empty, since a minimal image may ship no /etc/group.
func LookupUserFiles(spec, passwdPath, groupPath string) (Identity, error) {
	var readers [2]io.Reader
	for i, p := range []string{passwdPath, groupPath} {
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return Identity{}, fmt.Errorf("user %q: %w", spec, err)
		}
		defer f.Close()
		readers[i] = f
	}
	return LookupUser(spec, readers[0], readers[1])
}

func resolveUser(s string, users []passwdEntry) (Identity, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		uid := uint32(n)
		for _, u := range users {
			if u.uid == uid {
				return Identity{Name: u.name, UID: uid, GID: u.gid, Home: u.home}, nil
			}
		}
		return Identity{UID: uid, GID: uid, Home: "/"}, nil
	}
	for _, u := range users {
		if u.name == s {
			return Identity{Name: u.name, UID: u.uid, GID: u.gid, Home: u.home}, nil
		}
	}
	return Identity{}, fmt.Errorf("no user %q in passwd", s)
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func resolveGroup(s string, groups []groupEntry) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("no group %q in group file", s)
}

func supplementary(id Identity, groups []groupEntry) []uint32 {
	out := []uint32{id.GID}
	if id.Name == "" {
		return out
	}
	for _, g := range groups {
		if g.gid == id.GID {
			continue
		}
		for _, m := range g.members {
			if m == id.Name {
				out = append(out, g.gid)
				break
			}
		}
	}
	return out
}

func parsePasswd(r io.Reader) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachRecord(r, 7, func(f []string) {
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read passwd: %w", err)
	}
	return out, nil
}

func parseGroup(r io.Reader) ([]groupEntry, error) {
	var out []groupEntry
	err := eachRecord(r, 4, func(f []string) {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: uint32(gid), members: members})
	})
	if err != nil {
		return nil, fmt.Errorf("read group: %w", err)
	}
	return out, nil
}

// eachRecord calls fn for every colon-separated line with n fields,
// skipping comments and malformed lines as libc does.
func eachRecord(r io.Reader, n int, fn func([]string)) error {
	if r == nil {
		return nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != n {
			continue
		}
		fn(f)
	}
	return sc.Err()
}
