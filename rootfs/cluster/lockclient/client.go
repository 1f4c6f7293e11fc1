// Package lockclient is the client side of the FleetLock protocol (the
// reboot lock of Fedora CoreOS's Zincati, served by fleetlockd or
// Typhoon's airlock): a machine takes a slot of its group's semaphore
// before it reboots into an update and gives it back once the new boot
// is settled, so machines of one group never reboot together.
package lockclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Header must be "true" on every request: it keeps browsers and stray
// clients from taking locks by accident.
const Header = "fleet-lock-protocol"

// Client talks to one FleetLock server for one machine.
type Client struct {
	URL   string // base URL; /v1/pre-reboot and /v1/steady-state are below it
	Group string // the semaphore's group
	ID    string // this machine's id (contract.MachineID)
	// HTTP does the requests; nil: http.DefaultClient. Its timeout (or
	// the context's) bounds each request.
	HTTP *http.Client
}

// Refused is a server's answer other than 2xx: the lock was not taken
// (or not released). Kind and Value come from its JSON body when it has
// one; Value is the body's text otherwise.
type Refused struct {
	Op     string // "pre-reboot" or "steady-state"
	Status int    // HTTP status
	Kind   string // e.g. failed_lock
	Value  string // the server's words, e.g. who holds the slots
}

func (e *Refused) Error() string {
	what := e.Kind
	if what == "" {
		what = "refused"
	}
	return fmt.Sprintf("lockclient: %s: %s (HTTP %d): %s", e.Op, what, e.Status, e.Value)
}

// PreReboot takes a slot of the group's lock; nil means the machine may
// reboot. Asking again while holding a slot is granted again.
func (c *Client) PreReboot(ctx context.Context) error { return c.post(ctx, "pre-reboot") }

// SteadyState gives the machine's slot back; nil also when it held none.
func (c *Client) SteadyState(ctx context.Context) error { return c.post(ctx, "steady-state") }

type clientParams struct {
	ID    string `json:"id"`
	Group string `json:"group"`
}

func (c *Client) post(ctx context.Context, op string) error {
	body, err := json.Marshal(struct {
		ClientParams clientParams `json:"client_params"`
	}{clientParams{ID: c.ID, Group: c.Group}})
	if err != nil {
		return fmt.Errorf("lockclient: %s: %w", op, err)
	}
	url := strings.TrimSuffix(c.URL, "/") + "/v1/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("lockclient: %s: %w", op, err)
	}
	req.Header.Set(Header, "true")
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("lockclient: %s: %w", op, err)
	}
	defer resp.Body.Close()
	// Small: an error body is a short JSON object.
	text, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	// The protocol answers 200; any 2xx is taken as yes, as Zincati
	// does, so a server answering 204 is not refused forever.
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lockclient: %s: HTTP %d: %w", op, resp.StatusCode, err)
	}
	r := &Refused{Op: op, Status: resp.StatusCode}
	var kv struct{ Kind, Value string }
	if json.Unmarshal(text, &kv) == nil && kv.Kind != "" {
		r.Kind, r.Value = kv.Kind, kv.Value
	} else {
		r.Value = strings.TrimSpace(string(text))
	}
	return r
}
