package imds

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
)

// Config returns the Ignition config user-data holds: its bytes, gunzipped
// when gzipped (EC2 limits user-data to 16 KiB; Ignition takes it gzipped
// too). User-data that is not a JSON object is no Ignition config (a
// cloud-init script, say): an error that says what it looks like, for a
// console line; the boot goes on without it. A JSON object goes to the
// Ignition code path, which refuses an invalid config by field.
func Config(userData []byte) ([]byte, error) {
	raw := userData
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("user-data: gzip: %w", err)
		}
		if raw, err = io.ReadAll(io.LimitReader(zr, maxBody+1)); err != nil {
			return nil, fmt.Errorf("user-data: gzip: %w", err)
		}
		if len(raw) > maxBody {
			return nil, fmt.Errorf("user-data: larger than %d KiB unzipped", maxBody>>10)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("user-data is not an Ignition config (not a JSON object: %v; it begins %.24q)", err, bytes.TrimSpace(raw))
	}
	if _, ok := obj["ignition"]; !ok {
		return nil, fmt.Errorf("user-data is not an Ignition config (a JSON object without \"ignition\")")
	}
	return raw, nil
}
