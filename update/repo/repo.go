// Package repo reads and writes an imgbuild update repository: a plain
// directory tree that any web server or object store can host, and that
// imgbuild serve serves (docs/updates.md). It also holds the one check
// that a release record vouches for a payload (Vouched), which `imgbuild
// release` makes before it publishes and the update agent before it
// downloads.
//
//	objects/sha256/<hex>          every payload file, named by its content
//	channels/<channel>.json       channel metadata: the release the channel points at
//	channels/<channel>.json.sig   its signature (package sign, ChannelContext)
//
// Payload files are immutable and content-addressed, so a release is
// stored once however many channels point at it, and promoting it from
// alpha to beta rewrites only channel metadata: not one payload byte.
package repo

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/version"
)

// ChannelFormat names the channel metadata layout; readers refuse
// another major and ignore fields they do not know.
const ChannelFormat = "imgbuild-channel/1"

// Kinds of payload files. A payload always has KindRecord, KindUSR,
// KindKernel and KindInitramfs; KindSignature unless unsigned; Secure
// Boot releases add a signed UKI per slot (KindUKI + slot).
const (
	KindRecord    = "record"
	KindSignature = "signature"
	KindUSR       = "usr"
	KindKernel    = "kernel"
	KindInitramfs = "initramfs"
	KindUKI       = "uki-" // + "a" or "b": the slot's .cmdline names that slot
)

// File is one payload file.
type File struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"` // relative to the repository root: objects/sha256/<hex>
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Payload is one release: the files an update writes.
type Payload struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	Files   []File `json:"files"`
}

// File returns the payload's file of a kind.
func (p *Payload) File(kind string) (File, bool) {
	for _, f := range p.Files {
		if f.Kind == kind {
			return f, true
		}
	}
	return File{}, false
}

// Channel is a channel's metadata: which release it offers, since when.
type Channel struct {
	Format  string    `json:"format"`
	Channel string    `json:"channel"`
	Since   time.Time `json:"since"` // when the channel started offering this release
	Payload
}

// ChannelPath is a channel's metadata file, relative to the root.
func ChannelPath(channel string) string { return "channels/" + channel + ".json" }

// SigPath is the signature of a channel's metadata.
func SigPath(channel string) string { return ChannelPath(channel) + ".sig" }

// ObjectPath is where a payload file with this sha256 lives.
func ObjectPath(sha256Hex string) string { return "objects/sha256/" + sha256Hex }

// ParseChannel decodes channel metadata, accepting unknown fields (a
// newer writer may add some; the signature covers them) but refusing
// another format major and a payload that lacks what every update needs.
// Check the signature over the raw bytes before trusting the result.
func ParseChannel(data []byte) (*Channel, error) {
	var c Channel
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("repo: channel metadata: %w", err)
	}
	if major(c.Format) != major(ChannelFormat) {
		return nil, fmt.Errorf("repo: channel metadata: format %q, this reader knows %q", c.Format, ChannelFormat)
	}
	if err := version.Check(c.Version); err != nil {
		return nil, fmt.Errorf("repo: channel %s: version: %w", c.Channel, err)
	}
	for _, kind := range []string{KindRecord, KindUSR, KindKernel, KindInitramfs} {
		if _, ok := c.File(kind); !ok {
			return nil, fmt.Errorf("repo: channel %s: payload %s has no %s file", c.Channel, c.Version, kind)
		}
	}
	for _, f := range c.Files {
		if f.Path != ObjectPath(f.SHA256) || len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" || f.Size < 0 {
			return nil, fmt.Errorf("repo: channel %s: file %s: path %q is not objects/sha256/<its sha256>", c.Channel, f.Kind, f.Path)
		}
	}
	return &c, nil
}

func major(format string) string {
	name, ver, _ := strings.Cut(format, "/")
	m, _, _ := strings.Cut(ver, ".")
	return name + "/" + m
}
