package amitest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, fmt.Errorf("not AWS4-HMAC-SHA256: %q", h)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, fmt.Errorf("credential %q: not KEY/DATE/REGION/SERVICE/aws4_request", v)
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return a, fmt.Errorf("incomplete: %q", h)
	}
	return a, nil
}

// verify recomputes the request's signature with the SDK's own signer
// from the secret the fake knows, over exactly the headers the client
// says it signed, and compares it with the one the client sent.
func (s *Server) verify(r *http.Request, body []byte, service string, unsignedPayload bool) error {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	switch {
	case a.accessKey != s.AccessKey:
		return fmt.Errorf("unknown access key %q", a.accessKey)
	case a.region != s.Region:
		return fmt.Errorf("signed for region %q, the fake is %q", a.region, s.Region)
	case a.service != service:
		return fmt.Errorf("signed for service %q, the request is for %q", a.service, service)
	}
	for _, h := range []string{"host", "x-amz-date"} {
		if !slices.Contains(a.signedHeaders, h) {
			return fmt.Errorf("header %s is not signed", h)
		}
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if d := time.Since(when); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("X-Amz-Date %s is %s off", when, d)
	}
	payload, err := payloadHash(r, body, unsignedPayload)
	if err != nil {
		return err
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	for _, h := range a.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, payload, service, s.Region, when); err != nil {
		return err
	}
	want, err := parseAuthorization(again.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if want.signature != a.signature || !slices.Equal(want.signedHeaders, a.signedHeaders) {
		return fmt.Errorf("signature does not match (signed headers %s)", strings.Join(a.signedHeaders, ";"))
	}
	return nil
}

// payloadHash is what the signature covers of the body: its SHA-256, or
// UNSIGNED-PAYLOAD where the API allows it (PutSnapshotBlock, whose data
// is covered by the signed x-amz-Checksum header instead).
func payloadHash(r *http.Request, body []byte, unsignedOK bool) (string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed {
	case "":
		return actual, nil
	case "UNSIGNED-PAYLOAD":
		if !unsignedOK {
			return "", fmt.Errorf("unsigned payload for an operation that must sign it")
		}
		return claimed, nil
	case actual:
		return actual, nil
	default:
		return "", fmt.Errorf("X-Amz-Content-Sha256 %s does not match the body", claimed)
	}
}
