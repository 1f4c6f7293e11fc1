package amitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestTamperedRequestRefused signs a StartSnapshot and a block with the
// right secret, then changes what was signed: the fake must notice.
func TestTamperedRequestRefused(t *testing.T) {
	s := New("us-east-1", "AKIDTEST", "secret")
	defer s.Close()
	send := func(method, path string, body []byte, hdr map[string]string, tamper func(*http.Request)) int {
		req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		sum := sha256.Sum256(body)
		payload := hex.EncodeToString(sum[:])
		if strings.Contains(path, "/blocks/") {
			payload = "UNSIGNED-PAYLOAD"
			req.Header.Set("X-Amz-Content-Sha256", payload)
		}
		creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payload, "ebs", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		tamper(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	start := []byte(`{"VolumeSize":1,"ClientToken":"t"}`)
	none := func(*http.Request) {}
	if code := send("POST", "/snapshots", start, nil, none); code != http.StatusCreated {
		t.Fatalf("a correctly signed StartSnapshot: %d", code)
	}
	bigger := func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(`{"VolumeSize":9,"ClientToken":"t"}`))
	}
	if code := send("POST", "/snapshots", start, nil, bigger); code != http.StatusForbidden {
		t.Errorf("StartSnapshot with a changed body: %d, want 403", code)
	}
	block := make([]byte, blockSize)
	sum := sha256.Sum256(block)
	hdr := map[string]string{"X-Amz-Data-Length": "524288", "X-Amz-Checksum-Algorithm": "SHA256",
		"X-Amz-Checksum": base64.StdEncoding.EncodeToString(sum[:])}
	other := sha256.Sum256([]byte("other"))
	swapped := func(r *http.Request) { r.Header.Set("X-Amz-Checksum", base64.StdEncoding.EncodeToString(other[:])) }
	if code := send("PUT", "/snapshots/snap-00000000000000001/blocks/0", block, hdr, swapped); code != http.StatusForbidden {
		t.Errorf("a block whose signed checksum was swapped: %d, want 403", code)
	}
	if code := send("PUT", "/snapshots/snap-00000000000000001/blocks/0", block, hdr, none); code != http.StatusCreated {
		t.Errorf("a correctly signed block: %d, want 201 (refused: %q)", code, s.Refused())
	}
	if n := len(s.Refused()); n != 2 {
		t.Errorf("refused %q, want the 2 tampered requests", s.Refused())
	}
}
