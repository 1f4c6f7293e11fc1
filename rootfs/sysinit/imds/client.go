package imds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

const (
	// tokenTTL asks for the longest session IMDSv2 grants (6 h): one
	// token serves every request of the boot.
	tokenTTL    = "21600"
	ttlHeader   = "X-aws-ec2-metadata-token-ttl-seconds"
	tokenHeader = "X-aws-ec2-metadata-token"
	// maxBody bounds one answer; user-data is at most 16 KiB on EC2.
	maxBody = 1 << 20
)

// Client talks to one metadata service.
type Client struct {
	// Base is the service's URL; default http://169.254.169.254.
	Base string
	HTTP *http.Client
	// Tries bounds the attempts of each request (default 5); Backoff is
	// the first wait between them (default 250 ms), doubled each time,
	// so the default gives up after about 4 s of waiting plus the
	// attempts' own timeouts (Timeout, default 2 s each).
	Tries   int
	Backoff time.Duration
	Timeout time.Duration

	token string
}

func (c *Client) base() string {
	if c.Base == "" {
		return "http://" + contract.IMDSAddress
	}
	return strings.TrimSuffix(c.Base, "/")
}

func (c *Client) tries() int {
	if c.Tries <= 0 {
		return 5
	}
	return c.Tries
}

// errNotFound: the service has no such item (user-data, keys of an
// instance launched without them).
var errNotFound = errors.New("not found")

// statusError is an answer other than 200; 5xx and 429 are retried.
type statusError struct {
	method, url string
	code        int
	status      string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.method, e.url, e.status)
}

func (e *statusError) retry() bool {
	return e.code >= 500 || e.code == http.StatusTooManyRequests
}

// do sends one request with retries and returns the 200 body; a 404 is
// errNotFound at once. The error names the request, the tries and the
// last failure.
func (c *Client) do(ctx context.Context, method, path string) ([]byte, error) {
	url := c.base() + path
	wait := c.Backoff
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	start := time.Now()
	var err error
	for try := 1; ; try++ {
		var body []byte
		body, err = c.once(ctx, method, url)
		if err == nil || errors.Is(err, errNotFound) {
			return body, err
		}
		var se *statusError
		if errors.As(err, &se) && !se.retry() {
			return nil, fmt.Errorf("imds: %w", err)
		}
		if try == c.tries() || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
	return nil, fmt.Errorf("imds: %d tries over %.1fs: %w", c.tries(), time.Since(start).Seconds(), err)
}

func (c *Client) once(ctx context.Context, method, url string) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	if method == http.MethodPut {
		req.Header.Set(ttlHeader, tokenTTL)
	} else {
		req.Header.Set(tokenHeader, c.token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err // names method and URL
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, errNotFound
	default:
		return nil, &statusError{method: method, url: url, code: resp.StatusCode, status: resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%s %s: answer larger than %d KiB", method, url, maxBody>>10)
	}
	return body, nil
}

// Token gets the session token every later request carries. A service
// that refuses the PUT (403: the instance's metadata is turned off;
// 405: behind a proxy that drops PUTs) is not retried.
func (c *Client) Token(ctx context.Context) error {
	b, err := c.do(ctx, http.MethodPut, "/latest/api/token")
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("imds: PUT %s/latest/api/token: 404 Not Found (IMDSv2 not supported here)", c.base())
	}
	if err != nil {
		return err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return fmt.Errorf("imds: PUT %s/latest/api/token: answered no usable token", c.base())
	}
	c.token = tok
	return nil
}

// Get reads /latest/PATH with the session token; ok is false when the
// service has no such item.
func (c *Client) Get(ctx context.Context, path string) (body []byte, ok bool, err error) {
	b, err := c.do(ctx, http.MethodGet, "/latest/"+path)
	if errors.Is(err, errNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}
