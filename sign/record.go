package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/internal/version"
)

// RecordFormat names the record layout. Its major number changes only
// when an older reader would misread a record; fields added within a
// major are ignored by older readers (they are signed all the same).
const RecordFormat = "imgbuild-release/2"

// Record is what a release vouches for: the artifacts of one slot by
// their SHA-256 and the dm-verity parameters stage-1 needs to trust USR.
// It names no channel: a release is promoted from channel to channel
// without touching its signed bytes.
type Record struct {
	Format  string `json:"format"`  // RecordFormat
	Name    string `json:"name"`    // the image's name: an update must keep it
	Version string `json:"version"` // semantic version, without a leading v
	Arch    string `json:"arch"`    // GOARCH of the image: amd64
	// MinVersion is the lowest running version that may update to this
	// release; empty: any.
	MinVersion string `json:"min_version,omitempty"`

	Kernel    string `json:"kernel_sha256"`    // vmlinuz
	Initramfs string `json:"initramfs_sha256"` // compressed initrd
	USR       string `json:"usr_sha256"`       // USR partition content: squashfs + hash area
	USRSize   int64  `json:"usr_size"`         // bytes of that content
	// UKI is each slot's signed Unified Kernel Image by slot ("a", "b"),
	// in Secure Boot releases; each slot's .cmdline names that slot.
	UKI map[string]string `json:"uki_sha256,omitempty"`
	// KernelArgs is the release's kernel command line without the keys
	// that name a slot (contract.EntryArgs adds those per slot entry), so
	// an update brings a changed kernel.cmdline to the new slot's entry.
	// Records of builds before it have none; empty means absent.
	KernelArgs []string `json:"kernel_args,omitempty"`

	VerityRoot string `json:"verity_root"` // hex
	VeritySalt string `json:"verity_salt"` // hex
	VerityUUID string `json:"verity_uuid,omitempty"`
	HashOffset int64  `json:"verity_hash_offset"` // bytes from the start of the USR partition
	DataBlocks uint64 `json:"verity_data_blocks"` // 4096-byte blocks
}

// Canonical is the record as deterministic JSON: keys sorted, no
// whitespace, no trailing newline. It is the content of a record file
// and the message a signature covers.
func (r Record) Canonical() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("sign: marshal record: %v", err)) // plain strings and ints cannot fail
	}
	// A map marshals with sorted keys; RawMessage values come out compact.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("sign: re-read record: %v", err))
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("sign: marshal record: %v", err))
	}
	return out
}

// ParseRecord decodes a record file. Fields this reader does not know
// are accepted, since a newer writer may add them within the format's
// major and the signature covers them anyway; a format of another major,
// a malformed version and trailing data are errors. Check the signature
// over the raw bytes (Verify) before trusting what this returns.
func ParseRecord(data []byte) (*Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("sign: parse record: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("sign: parse record: trailing data after the JSON object")
	}
	if major(r.Format) != major(RecordFormat) {
		return nil, fmt.Errorf("sign: parse record: format %q, this reader knows %q", r.Format, RecordFormat)
	}
	if err := version.Check(r.Version); err != nil {
		return nil, fmt.Errorf("sign: parse record: version: %w", err)
	}
	if r.MinVersion != "" {
		if err := version.Check(r.MinVersion); err != nil {
			return nil, fmt.Errorf("sign: parse record: min_version: %w", err)
		}
	}
	for _, a := range r.KernelArgs {
		if a == "" || strings.ContainsAny(a, " \t\n\r") {
			return nil, fmt.Errorf("sign: parse record: kernel_args: %q is not one argument without spaces", a)
		}
	}
	return &r, nil
}

// major is "imgbuild-release/2" of "imgbuild-release/2.1".
func major(format string) string {
	name, ver, _ := strings.Cut(format, "/")
	m, _, _ := strings.Cut(ver, ".")
	return name + "/" + m
}
