package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a running imgbuild serve: its machines and rollouts.
type Client struct {
	// Base is the server's URL, e.g. http://127.0.0.1:8090 (its Omaha
	// endpoint is accepted too).
	Base string
	HTTP *http.Client // nil: a client with a 30 s timeout
}

func (c *Client) url(path string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(c.Base, "/"), strings.TrimSuffix(OmahaPath, "/"))
	return base + path
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return fmt.Errorf("serve client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("serve client: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("serve client: %s %s: %w", method, req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("serve client: %s %s: %s", method, req.URL, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("serve client: %s %s: %w", method, req.URL, err)
	}
	return nil
}

// Machines is every machine the server has records of.
func (c *Client) Machines(ctx context.Context) ([]Machine, error) {
	var list []Machine
	return list, c.do(ctx, http.MethodGet, MachinesPath, nil, &list)
}

// Rollouts is every channel's rollouts, or one channel's.
func (c *Client) Rollouts(ctx context.Context, channel string) ([]RolloutStatus, error) {
	path := RolloutsPath
	if channel != "" {
		path += "?channel=" + url.QueryEscape(channel)
	}
	var list []RolloutStatus
	return list, c.do(ctx, http.MethodGet, path, nil, &list)
}

// ChangeRollout sets, pauses or resumes a rollout.
func (c *Client) ChangeRollout(ctx context.Context, req RolloutRequest) (*RolloutStatus, error) {
	var st RolloutStatus
	if err := c.do(ctx, http.MethodPost, RolloutsPath, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
