package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Record is what a release vouches for: the artifacts of one slot by
// their SHA-256 and the dm-verity parameters stage-1 needs to trust USR.
type Record struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Channel   string `json:"channel"`
	Kernel    string `json:"kernel_sha256"`    // vmlinuz
	Initramfs string `json:"initramfs_sha256"` // compressed initrd
	USR       string `json:"usr_sha256"`       // USR partition content: squashfs + hash area

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

// ParseRecord decodes a record file strictly: unknown fields and
// trailing data are errors, so a record means exactly what it says.
func ParseRecord(data []byte) (*Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("sign: parse record: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("sign: parse record: trailing data after the JSON object")
	}
	return &r, nil
}
