package repo

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func FuzzParseChannel(f *testing.F) {
	sum := strings.Repeat("a", 64)
	c := Channel{Format: ChannelFormat, Channel: "beta", Since: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Payload: Payload{Name: "minimal", Version: "1.2.3", Arch: "amd64"}}
	for _, kind := range []string{KindRecord, KindSignature, KindUSR, KindKernel, KindInitramfs} {
		c.Files = append(c.Files, File{Kind: kind, Path: ObjectPath(sum), Size: 1, SHA256: sum})
	}
	seed, err := json.Marshal(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseChannel(data)
		if err != nil {
			return
		}
		// Promote rewrites a channel it read: what it writes must read
		// back, to the same metadata.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("accepted metadata it cannot write: %v", err)
		}
		again, err := ParseChannel(out)
		if err != nil {
			t.Fatalf("cannot read the metadata it wrote: %v\n%s", err, out)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Errorf("round trip changed the metadata:\n%s\n%s", out, out2)
		}
	})
}
