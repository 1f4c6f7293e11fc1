package qemutests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/qemu"
)

// TestEtcdBoot boots the etcd image (etcd built from source at a pinned
// version) and talks to it from the host through the port forward.
func TestEtcdBoot(t *testing.T) {
	skipShort(t)
	res := buildImage(t, "etcd")
	img := diskCopy(t, res)
	port := freePort(t)
	v := boot(t, img, filepath.Join(t.TempDir(), "vars.fd"), 1024, qemu.Forward{Host: port, Guest: 2379})
	v.ExpectHealthy(4 * time.Minute)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	put, _ := json.Marshal(map[string]string{"key": b64("greeting"), "value": b64("hello from the host")})
	if _, err := post(base+"/v3/kv/put", put); err != nil {
		t.Fatalf("etcd put: %v", err)
	}
	get, _ := json.Marshal(map[string]string{"key": b64("greeting")})
	body, err := post(base+"/v3/kv/range", get)
	if err != nil {
		t.Fatalf("etcd range: %v", err)
	}
	var rng struct {
		KVs []struct{ Value string } `json:"kvs"`
	}
	if err := json.Unmarshal(body, &rng); err != nil || len(rng.KVs) != 1 {
		t.Fatalf("etcd range answer %s: %v", body, err)
	}
	if v, _ := base64.StdEncoding.DecodeString(rng.KVs[0].Value); string(v) != "hello from the host" {
		t.Errorf("etcd get = %q", v)
	}
	v.Powerdown()
}

func post(url string, body []byte) ([]byte, error) {
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, data)
	}
	return data, nil
}
