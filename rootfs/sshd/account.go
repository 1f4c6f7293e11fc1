package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/rootfs/sysinit/supervise"
)

// account is a user that may log in.
type account struct {
	supervise.Identity
	Shell string
}

// lookupAccount finds name in the passwd file; its groups come from the
// group file beside it, as sysinit resolves services' users.
func lookupAccount(name, passwdPath, groupPath string) (account, error) {
	if name == "" || strings.ContainsAny(name, "/:\x00") || name == "." || name == ".." {
		return account{}, fmt.Errorf("no such user")
	}
	shell, found, err := passwdShell(name, passwdPath)
	if err != nil {
		return account{}, err
	}
	if !found {
		return account{}, fmt.Errorf("no such user")
	}
	id, err := supervise.LookupUserFiles(name, passwdPath, groupPath)
	if err != nil {
		return account{}, err
	}
	if shell == "" {
		shell = "/bin/sh"
	}
	return account{Identity: id, Shell: shell}, nil
}

// passwdShell returns the login shell field of name's passwd line.
func passwdShell(name, passwdPath string) (shell string, found bool, err error) {
	data, err := os.ReadFile(passwdPath)
	if err != nil {
		return "", false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) == 7 && f[0] == name {
			return f[6], true, nil
		}
	}
	return "", false, sc.Err()
}

// authorizedKeys reads user's keys from every directory in dirs (a file
// named for the user in each). A missing file is no keys. Keys with
// options (from=, command=, ...) are skipped: honouring only some of
// them would grant more than their author meant.
func authorizedKeys(dirs []string, user string) (keys []ssh.PublicKey, skipped []string, err error) {
	for _, dir := range dirs {
		path := filepath.Join(dir, user)
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		k, s := parseAuthorizedKeys(path, data)
		keys, skipped = append(keys, k...), append(skipped, s...)
	}
	return keys, skipped, nil
}

func parseAuthorizedKeys(path string, data []byte) (keys []ssh.PublicKey, skipped []string) {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("%s:%d: %v", path, i+1, err))
		case len(options) > 0:
			skipped = append(skipped, fmt.Sprintf("%s:%d: key options (%s) are not supported", path, i+1, strings.Join(options, ",")))
		default:
			keys = append(keys, key)
		}
	}
	return keys, skipped
}
