// Package omahatest is an Omaha v3 server for tests, in the dialect
// docs/updates.md fixes (Flatcar's update_engine's): it offers a signed
// channel's release from a repository directory, which it also serves
// under /repo/, and records every app request and event.
package omahatest

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/flatcar/go-omaha/omaha"

	"github.com/imgbuild/imgbuild/update/repo"
)

// Server answers POSTs to any path but /repo/ as Omaha requests.
type Server struct {
	Repo string // repository root, served under /repo/

	mu      sync.Mutex
	channel *repo.Channel
	apps    []*omaha.AppRequest
	events  []string
}

// Offer makes the server offer a channel's release (nil: no update).
func (s *Server) Offer(c *repo.Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channel = c
}

// Apps returns the app requests received, oldest first.
func (s *Server) Apps() []*omaha.AppRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*omaha.AppRequest(nil), s.apps...)
}

// Events returns the events received as "TYPE/RESULT[:CODE][<PREVIOUS]".
func (s *Server) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/repo/") {
		http.StripPrefix("/repo/", http.FileServer(http.Dir(s.Repo))).ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var req omaha.Request
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Apps) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	app := req.Apps[0]
	s.mu.Lock()
	s.apps = append(s.apps, app)
	for _, e := range app.Events {
		ev := fmt.Sprintf("%d/%d", e.Type, e.Result)
		if e.ErrorCode != 0 {
			ev += fmt.Sprintf(":%d", e.ErrorCode)
		}
		if e.PreviousVersion != "" {
			ev += "<" + e.PreviousVersion
		}
		s.events = append(s.events, ev)
	}
	ch := s.channel
	s.mu.Unlock()
	resp := omaha.NewResponse()
	ar := resp.AddApp(app.ID, omaha.AppOK)
	if app.Ping != nil {
		ar.AddPing()
	}
	for range app.Events {
		ar.AddEvent()
	}
	if app.UpdateCheck != nil {
		if ch == nil || ch.Version == app.Version || ch.Channel != app.Track {
			ar.AddUpdateCheck(omaha.NoUpdate)
		} else {
			uc := ar.AddUpdateCheck(omaha.UpdateOK)
			uc.AddURL("http://" + r.Host + "/repo/")
			m := uc.AddManifest(ch.Version)
			for _, kind := range []string{repo.KindRecord, repo.KindSignature, repo.KindUSR, repo.KindKernel, repo.KindInitramfs} {
				if f, ok := ch.File(kind); ok {
					p := m.AddPackage()
					p.Name, p.SHA256, p.Size, p.Required = f.Path, f.SHA256, uint64(f.Size), true
				}
			}
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(resp)
}
