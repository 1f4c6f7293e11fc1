package imds

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Metadata is what a machine takes from the service on its first boot.
type Metadata struct {
	Hostname string
	// Keys are the OpenSSH public keys of the instance's key pair(s).
	Keys []string
	// UserData is nil when the instance was launched without any.
	UserData []byte
}

// Fetch reads the token, then hostname, keys and user-data. Any failure
// fails the whole fetch: a machine half-described by its metadata is
// better left for the next boot to try again.
func (c *Client) Fetch(ctx context.Context) (*Metadata, error) {
	if err := c.Token(ctx); err != nil {
		return nil, err
	}
	var md Metadata
	host, ok, err := c.Get(ctx, "meta-data/hostname")
	if err != nil {
		return nil, err
	}
	if ok {
		if md.Hostname, err = hostname(string(host)); err != nil {
			return nil, fmt.Errorf("imds: meta-data/hostname: %w", err)
		}
	}
	if md.Keys, err = c.keys(ctx); err != nil {
		return nil, err
	}
	if md.UserData, _, err = c.Get(ctx, "user-data"); err != nil {
		return nil, err
	}
	return &md, nil
}

// keys lists public-keys/ (lines "0=name" on EC2, "0/" from some
// mocks) and reads each index's openssh-key.
func (c *Client) keys(ctx context.Context) ([]string, error) {
	list, ok, err := c.Get(ctx, "meta-data/public-keys/")
	if err != nil || !ok {
		return nil, err
	}
	var keys []string
	for _, line := range strings.Fields(string(list)) {
		idx := strings.TrimRight(strings.SplitN(line, "=", 2)[0], "/")
		if _, err := strconv.Atoi(idx); err != nil {
			return nil, fmt.Errorf("imds: meta-data/public-keys/: %q is not an index", line)
		}
		key, ok, err := c.Get(ctx, "meta-data/public-keys/"+idx+"/openssh-key")
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // a key of another format only
		}
		for _, k := range strings.Split(string(key), "\n") {
			k = strings.TrimSpace(k)
			if k == "" {
				continue
			}
			if !sshKey.MatchString(k) {
				return nil, fmt.Errorf("imds: public-keys/%s/openssh-key: not an OpenSSH public key: %.40q", idx, k)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// sshKey is an authorized_keys line without options: type, base64, comment.
var sshKey = regexp.MustCompile(`^(ssh-[a-z0-9-]+|ecdsa-sha2-nistp[0-9]+|sk-[a-z0-9-@.]+) [A-Za-z0-9+/]+=*( .*)?$`)

// hostLabel is one DNS label (RFC 1123).
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// hostname checks a name the service gives; a name longer than the
// kernel's 64 bytes is cut to its first label, as EC2's long private DNS
// names are.
func hostname(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return "", fmt.Errorf("empty")
	}
	for _, l := range strings.Split(s, ".") {
		if !hostLabel.MatchString(l) {
			return "", fmt.Errorf("%.70q is not a host name", s)
		}
	}
	if len(s) > 64 {
		s, _, _ = strings.Cut(s, ".")
	}
	return s, nil
}
