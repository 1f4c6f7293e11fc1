package server

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/flatcar/go-omaha/omaha"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/update/repo"
)

// maxRequest bounds an Omaha request body (go-omaha's handler uses the same).
const maxRequest = 1 << 20

// omaha answers an Omaha v3 request: each app is checked against the
// channel its track names; its events are recorded first, whatever the
// answer.
func (s *Server) omaha(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Omaha requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		http.Error(w, "bad Omaha request: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := omaha.ParseRequest(r.Header.Get("Content-Type"), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "bad Omaha request: "+err.Error(), http.StatusBadRequest)
		return
	}
	attrs := eventAttrs(body)
	resp := omaha.NewResponse()
	resp.Server = "imgbuild"
	status := http.StatusBadRequest // no app answered ok (go-omaha's rule)
	for i, app := range req.Apps {
		if s.app(resp, r, app, attrs(i)) == omaha.AppOK {
			status = http.StatusOK
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	_ = enc.Encode(resp)
}

// app answers one app element and returns its status.
func (s *Server) app(resp *omaha.Response, r *http.Request, app *omaha.AppRequest, attrs []eventAttr) omaha.AppStatus {
	rep := report{machine: app.MachineID, appID: app.ID, version: app.Version, channel: app.Track,
		bootID: app.BootID, check: app.UpdateCheck != nil}
	for i, e := range app.Events {
		ev := Event{Type: int(e.Type), Result: int(e.Result), ErrorCode: e.ErrorCode,
			PreviousVersion: e.PreviousVersion, Version: app.Version, Meaning: EventMeaning(int(e.Type), int(e.Result), e.ErrorCode)}
		if i < len(attrs) {
			ev.Reason, ev.RolledBack = attrs[i].reason, attrs[i].rolledBack
		}
		rep.events = append(rep.events, ev)
	}
	before, _ := s.machines.Get(app.MachineID)
	if err := s.machines.Record(rep, s.opts.Now()); err != nil {
		s.opts.Log(err.Error())
	}
	ch, err := s.channel(app.Track)
	if err == nil && !strings.EqualFold(contract.OmahaAppID(ch.Name), app.ID) {
		err = fmt.Errorf("channel %s offers image %q, whose app id is %s", app.Track, ch.Name, contract.OmahaAppID(ch.Name))
	}
	if err != nil {
		s.opts.Log(fmt.Sprintf("omaha: machine %s app %s track %q: %v", app.MachineID, app.ID, app.Track, err))
		resp.AddApp(app.ID, omaha.AppUnknownID)
		return omaha.AppUnknownID
	}
	for _, e := range rep.events {
		if e.Type == 3 && e.Result == 0 && e.ErrorCode == contract.ErrRollback && app.MachineID != "" {
			s.rolledBack(app.MachineID, app.Track, before.Offered, e)
		}
	}
	a := resp.AddApp(app.ID, omaha.AppOK)
	if app.UpdateCheck != nil {
		s.updateCheck(a, r, app, ch)
	}
	if app.Ping != nil {
		a.AddPing()
	}
	for range app.Events {
		a.AddEvent()
	}
	return omaha.AppOK
}

// updateCheck offers the channel's release when it is newer than what
// the machine runs; whether the machine may install it (min_version,
// denylist, pin) is the machine's decision.
func (s *Server) updateCheck(a *omaha.AppResponse, r *http.Request, app *omaha.AppRequest, ch *repo.Channel) {
	if version.Compare(ch.Version, app.Version) <= 0 {
		a.AddUpdateCheck(omaha.NoUpdate)
		s.opts.Log(fmt.Sprintf("omaha: machine %s on %s %s: no update", app.MachineID, app.Track, app.Version))
		s.answered(app.MachineID, "", "")
		return
	}
	if held := s.held(app.Track, ch.Version, app.MachineID); held != "" {
		a.AddUpdateCheck(omaha.NoUpdate)
		s.opts.Log(fmt.Sprintf("omaha: machine %s on %s %s: no update: %s", app.MachineID, app.Track, app.Version, held))
		s.answered(app.MachineID, "", held)
		return
	}
	u := a.AddUpdateCheck(omaha.UpdateOK)
	u.AddURL(s.baseURL(r))
	m := u.AddManifest(ch.Version)
	for _, f := range OrderedFiles(ch.Files) {
		p := m.AddPackage()
		p.Name, p.SHA256, p.Size, p.Required = f.Path, f.SHA256, uint64(f.Size), true
	}
	s.opts.Log(fmt.Sprintf("omaha: machine %s on %s %s: offered %s", app.MachineID, app.Track, app.Version, ch.Version))
	s.answered(app.MachineID, ch.Version, "")
}

func (s *Server) answered(machine, offered, held string) {
	if err := s.machines.Answered(machine, offered, held); err != nil {
		s.opts.Log(err.Error())
	}
}

// baseURL is the repository root URL with a trailing slash: package
// names are relative to it.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimSuffix(s.opts.BaseURL, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}

// PackageOrder is the order of the packages in an update answer: the
// record first and its signature second, so a client can check them
// before fetching anything large (docs/updates.md).
var PackageOrder = []string{repo.KindRecord, repo.KindSignature, repo.KindUSR, repo.KindKernel, repo.KindInitramfs,
	repo.KindUKI + "a", repo.KindUKI + "b"}

// OrderedFiles sorts payload files by PackageOrder; kinds it does not
// name follow, by name.
func OrderedFiles(files []repo.File) []repo.File {
	rank := func(kind string) int {
		for i, k := range PackageOrder {
			if k == kind {
				return i
			}
		}
		return len(PackageOrder)
	}
	out := append([]repo.File(nil), files...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i].Kind), rank(out[j].Kind)
		if ri != rj {
			return ri < rj
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// eventAttr is what imgbuild's own attributes of an event say.
type eventAttr struct{ reason, rolledBack string }

// eventAttrs reads the contract.OmahaReasonAttr and
// contract.OmahaRolledBackAttr attributes of every event, which
// go-omaha's types drop: attrs(app)[event].
func eventAttrs(body []byte) func(app int) []eventAttr {
	var req struct {
		Apps []struct {
			Events []struct {
				Attrs []xml.Attr `xml:",any,attr"`
			} `xml:"event"`
		} `xml:"app"`
	}
	_ = xml.Unmarshal(body, &req) // go-omaha parsed it already
	return func(app int) []eventAttr {
		if app >= len(req.Apps) {
			return nil
		}
		var out []eventAttr
		for _, e := range req.Apps[app].Events {
			var ea eventAttr
			for _, a := range e.Attrs {
				switch {
				case a.Name.Space != "":
				case a.Name.Local == contract.OmahaReasonAttr:
					ea.reason = a.Value
				case a.Name.Local == contract.OmahaRolledBackAttr && version.Check(a.Value) == nil:
					ea.rolledBack = a.Value
				}
			}
			if len(ea.reason) > contract.OmahaReasonMax {
				ea.reason = strings.ToValidUTF8(ea.reason[:contract.OmahaReasonMax], "")
			}
			out = append(out, ea)
		}
		return out
	}
}
