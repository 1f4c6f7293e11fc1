package updater

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/flatcar/go-omaha/omaha"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/update/repo"
)

// Omaha speaks Omaha v3 as Flatcar's update_engine does (docs/updates.md):
// one app whose appid is contract.OmahaAppID(name), version the running
// release, track the channel, board ARCH-usr (amd64-usr, arm64-usr), the
// machine and boot ids;
// an updatecheck with a ping, and events in requests of their own.
type Omaha struct {
	Server    string // endpoint, e.g. http://10.0.2.100:8080/v1/update/
	AppID     string
	Version   string // running version
	Track     string
	MachineID string
	BootID    string
	Client    *http.Client
	// Timeout bounds each request and its answer; 0 is omahaTimeout.
	Timeout time.Duration
}

const (
	// omahaTimeout bounds one request and answer: both are a few KiB,
	// and the client's stall timeout alone lets a server that sends a
	// byte a minute hold a check for ever.
	omahaTimeout = 2 * time.Minute
	// maxResponse bounds what the agent reads of an answer (a real one
	// is a few KiB), so a huge body costs neither memory nor a
	// truncated-XML error that hides what happened.
	maxResponse = 1 << 20
)

// updaterVersion is what we tell servers we are.
const updaterVersion = "imgbuild-agent-1"

func (o *Omaha) request(app *omaha.AppRequest) *omaha.Request {
	req := omaha.NewRequest()
	req.Version, req.UpdaterVersion = updaterVersion, updaterVersion
	req.InstallSource, req.IsMachine = "scheduler", 1
	// The agent runs on the machine: its GOARCH is the image's arch.
	req.OS.Platform, req.OS.Arch = "imgbuild", runtime.GOARCH
	app.ID, app.Version, app.Track, app.Board = o.AppID, o.Version, o.Track, runtime.GOARCH+"-usr"
	app.MachineID, app.BootID, app.Lang = o.MachineID, o.BootID, "en-US"
	req.Apps = []*omaha.AppRequest{app}
	return req
}

func (o *Omaha) post(ctx context.Context, req *omaha.Request, e Event) (*omaha.AppResponse, error) {
	body, err := marshalRequest(req, e)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = omahaTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Server, bytes.NewReader(append([]byte(xml.Header), body...)))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "text/xml; charset=utf-8")
	c := o.Client
	if c == nil {
		c = httpClient
	}
	start := time.Now()
	resp, err := c.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", o.Server, timedOut(ctx, err, start))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s", o.Server, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("POST %s: read answer: %w", o.Server, timedOut(ctx, err, start))
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("POST %s: answer larger than %d KiB; not read", o.Server, maxResponse>>10)
	}
	app, err := parseResponse(data, o.AppID)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", o.Server, err)
	}
	return app, nil
}

// timedOut names the bound when the exchange's deadline ended it,
// rather than the bare "context deadline exceeded"; the caller names
// the server, so net/http's own "Post URL:" goes.
func timedOut(ctx context.Context, err error, start time.Time) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %.1fs: %w", time.Since(start).Seconds(), err)
	}
	return err
}

// parseResponse finds appID's answer in a server's response body.
func parseResponse(data []byte, appID string) (*omaha.AppResponse, error) {
	var r omaha.Response
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("omaha response: %w", err)
	}
	for _, app := range r.Apps {
		if strings.EqualFold(app.ID, appID) {
			if app.Status != "" && app.Status != omaha.AppOK {
				return nil, fmt.Errorf("omaha: app %s: status %s", appID, app.Status)
			}
			return app, nil
		}
	}
	return nil, fmt.Errorf("omaha: response has no app %s", appID)
}

// Report sends one event (Reporter).
func (o *Omaha) Report(ctx context.Context, e Event) error {
	ev := &omaha.EventRequest{Type: omaha.EventType(e.Type), Result: omaha.EventResult(e.Result),
		ErrorCode: e.ErrorCode, PreviousVersion: e.Previous}
	_, err := o.post(ctx, o.request(&omaha.AppRequest{Events: []*omaha.EventRequest{ev}}), e)
	return err
}

// marshalRequest encodes req; e's reason and rolled-back version go into
// the (only) event as the contract.OmahaReasonAttr and
// contract.OmahaRolledBackAttr attributes, which go-omaha's types cannot
// carry.
func marshalRequest(req *omaha.Request, e Event) ([]byte, error) {
	body, err := xml.Marshal(req)
	if err != nil || e.Reason == "" && e.RolledBack == "" {
		return body, err
	}
	reason := e.Reason
	if len(reason) > contract.OmahaReasonMax {
		reason = strings.ToValidUTF8(reason[:contract.OmahaReasonMax], "")
	}
	attrs := "<event "
	for _, a := range []struct{ name, value string }{{contract.OmahaReasonAttr, reason}, {contract.OmahaRolledBackAttr, e.RolledBack}} {
		if a.value == "" {
			continue
		}
		var esc bytes.Buffer
		if err := xml.EscapeText(&esc, []byte(a.value)); err != nil {
			return nil, err
		}
		attrs += a.name + "=\"" + esc.String() + "\" "
	}
	return bytes.Replace(body, []byte("<event "), []byte(attrs), 1), nil
}

// Check asks for an update; nil when there is none.
func (o *Omaha) Check(ctx context.Context) (*Offer, error) {
	app, err := o.post(ctx, o.request(&omaha.AppRequest{Ping: &omaha.PingRequest{Active: 1},
		UpdateCheck: &omaha.UpdateRequest{}}), Event{})
	if err != nil {
		return nil, err
	}
	return offerOf(app, o.Client)
}

// offerOf is what an app's answer offers; nil when there is no update.
func offerOf(app *omaha.AppResponse, client *http.Client) (*Offer, error) {
	uc := app.UpdateCheck
	if uc == nil {
		return nil, fmt.Errorf("omaha: response without updatecheck")
	}
	switch uc.Status {
	case omaha.NoUpdate:
		return nil, nil
	case omaha.UpdateOK:
	default:
		return nil, fmt.Errorf("omaha: updatecheck status %q", uc.Status)
	}
	if len(uc.URLs) == 0 || len(uc.Manifests) == 0 {
		return nil, fmt.Errorf("omaha: update without urls or manifest")
	}
	m := uc.Manifests[0]
	offer := &Offer{Version: m.Version, Source: Source{URL: uc.URLs[0].CodeBase, Client: client}}
	for _, p := range m.Packages {
		// A size past int64 would wrap negative (found by FuzzOmahaResponse).
		if p.Size > math.MaxInt64 {
			return nil, fmt.Errorf("omaha: package %s: size %d", p.Name, p.Size)
		}
		offer.Files = append(offer.Files, repo.File{Path: p.Name, Size: int64(p.Size), SHA256: strings.ToLower(p.SHA256)})
	}
	return offer, nil
}

// CheckOmaha asks an Omaha server for the channel's release and installs
// it when newer, reporting every step as events.
func (a *Agent) CheckOmaha(ctx context.Context, server, channel string) (bool, error) {
	running, err := a.Running()
	if err != nil {
		return false, err
	}
	mid, err := machineID(a.MachineID)
	if err != nil {
		return false, err
	}
	o := &Omaha{Server: server, AppID: contract.OmahaAppID(running.Name), Version: running.Version, Track: channel,
		MachineID: mid, BootID: bootID(), Timeout: a.OmahaTimeout}
	if a.Reporter == nil {
		a.Reporter = o
		defer func() { a.Reporter = nil }()
	}
	if err := a.Reconcile(ctx); err != nil {
		return false, err
	}
	offer, err := o.Check(ctx)
	_ = a.updateState(func(s *State) {
		s.LastCheck = now()
		if err == nil {
			s.LastOffered = running.Version
			if offer != nil {
				s.LastOffered = offer.Version
			}
		}
	})
	if err != nil {
		return false, a.failed(ctx, refuse(contract.ErrDownload, "%v", err))
	}
	if offer == nil {
		return false, a.updateState(func(s *State) { s.LastError, s.LastErrorCode = "", 0 })
	}
	return a.consider(ctx, *offer)
}

// machineID reads the machine's id, making it on first use.
func machineID(path string) (string, error) {
	if path == "" {
		path = contract.MachineID
	}
	data, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(data))) == 32 {
		return strings.TrimSpace(string(data)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("agent: machine id: %w", err)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	if err := writeFileSync(path, []byte(id+"\n")); err != nil {
		return "", err
	}
	return id, nil
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return "{" + strings.TrimSpace(string(b)) + "}"
}
