package fleetlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The protocol's paths and header (Zincati's FleetLock client).
const (
	PathPreReboot   = "/v1/pre-reboot"
	PathSteadyState = "/v1/steady-state"
	PathStatus      = "/v1/status"
	PathHealth      = "/health"
	Header          = "fleet-lock-protocol"
)

// Error kinds in the JSON error body. The first two and failed_lock are
// airlock's; a full group is failed_lock as in airlock, with 409.
const (
	KindMethod   = "method_not_allowed"
	KindIdentity = "invalid_client_identity"
	KindLock     = "failed_lock"
	KindUnlock   = "failed_unlock"
	KindStatus   = "failed_status"
)

// statusHistory is how many recent events GET /v1/status shows.
const statusHistory = 20

// maxBody bounds a request body: the protocol's is under 200 bytes.
const maxBody = 64 << 10

// requestTimeout bounds the etcd work of one request, so a machine
// waiting on a dead etcd gets an answer and retries later.
const requestTimeout = 10 * time.Second

// Handler serves the FleetLock protocol over a Semaphore.
type Handler struct {
	Sem *Semaphore
	// Logf, when set, gets one line per grant, release and refusal.
	Logf func(format string, args ...any)
	mux  *http.ServeMux
}

// NewHandler returns the protocol's handler: POST /v1/pre-reboot and
// /v1/steady-state, GET /v1/status?group=G and GET /health.
func NewHandler(sem *Semaphore, logf func(string, ...any)) *Handler {
	h := &Handler{Sem: sem, Logf: logf, mux: http.NewServeMux()}
	h.mux.HandleFunc(PathPreReboot, h.post(h.preReboot))
	h.mux.HandleFunc(PathSteadyState, h.post(h.steadyState))
	h.mux.HandleFunc(PathStatus, h.get(h.status))
	h.mux.HandleFunc(PathHealth, h.get(h.health))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// httpError is the protocol's error body, {"kind": ..., "value": ...}.
type httpError struct {
	Code  int    `json:"-"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func writeError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	json.NewEncoder(w).Encode(e)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

func (h *Handler) post(f func(context.Context, clientParams) *httpError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, &httpError{http.StatusMethodNotAllowed, KindMethod, fmt.Sprintf("%s %s: want POST", r.Method, r.URL.Path)})
			return
		}
		p, err := readIdentity(r)
		if err != nil {
			writeError(w, &httpError{http.StatusBadRequest, KindIdentity, "failed to validate client identity: " + err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if e := f(ctx, p); e != nil {
			writeError(w, e)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func (h *Handler) get(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, &httpError{http.StatusMethodNotAllowed, KindMethod, fmt.Sprintf("%s %s: want GET", r.Method, r.URL.Path)})
			return
		}
		f(w, r)
	}
}

// clientParams is the body's client_params.
type clientParams struct {
	ID    string `json:"id"`
	Group string `json:"group"`
}

func readIdentity(r *http.Request) (clientParams, error) {
	if r.Header.Get(Header) != "true" {
		return clientParams{}, fmt.Errorf("header %s: want \"true\", got %q", Header, r.Header.Get(Header))
	}
	var body struct {
		ClientParams *clientParams `json:"client_params"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&body); err != nil {
		return clientParams{}, fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return clientParams{}, errors.New("body: data after the JSON object")
	}
	switch p := body.ClientParams; {
	case p == nil:
		return clientParams{}, errors.New("body: client_params missing")
	case p.ID == "":
		return clientParams{}, errors.New("body: client_params.id empty")
	case p.Group == "":
		return clientParams{}, errors.New("body: client_params.group empty")
	case checkGroup(p.Group) != nil:
		return clientParams{}, fmt.Errorf("body: client_params.group %q: must not contain '/'", p.Group)
	}
	return *body.ClientParams, nil
}

func (h *Handler) preReboot(ctx context.Context, p clientParams) *httpError {
	st, granted, err := h.Sem.Lock(ctx, p.Group, p.ID)
	var full *FullError
	switch {
	case errors.As(err, &full):
		h.logf("fleetlock: refused %s in group %s: %d of %d slots held by %v", p.ID, p.Group, len(full.Holders), full.Slots, full.Holders)
		return &httpError{http.StatusConflict, KindLock, err.Error()}
	case err != nil:
		h.logf("fleetlock: lock %s in group %s: %v", p.ID, p.Group, err)
		return &httpError{http.StatusServiceUnavailable, KindLock, err.Error()}
	case granted:
		h.logf("fleetlock: granted %s in group %s: holders %v of %d slots", p.ID, p.Group, st.Holders, st.TotalSlots)
	}
	return nil
}

func (h *Handler) steadyState(ctx context.Context, p clientParams) *httpError {
	st, released, err := h.Sem.Unlock(ctx, p.Group, p.ID)
	switch {
	case err != nil:
		h.logf("fleetlock: unlock %s in group %s: %v", p.ID, p.Group, err)
		return &httpError{http.StatusServiceUnavailable, KindUnlock, err.Error()}
	case released:
		h.logf("fleetlock: released %s in group %s: holders %v of %d slots", p.ID, p.Group, st.Holders, st.TotalSlots)
	}
	return nil
}

// Status is GET /v1/status's answer.
type Status struct {
	Group   string   `json:"group"`
	Slots   int      `json:"slots"`
	Holders []string `json:"holders"`
	History []Event  `json:"history"`
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get("group")
	if group == "" {
		group = "default"
	}
	if err := checkGroup(group); err != nil {
		writeError(w, &httpError{http.StatusBadRequest, KindStatus, "group: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	st, err := h.Sem.Get(ctx, group)
	if err != nil {
		writeError(w, &httpError{http.StatusServiceUnavailable, KindStatus, err.Error()})
		return
	}
	hist, err := h.Sem.History(ctx, group, statusHistory)
	if err != nil {
		writeError(w, &httpError{http.StatusServiceUnavailable, KindStatus, err.Error()})
		return
	}
	writeJSON(w, Status{Group: group, Slots: st.TotalSlots, Holders: st.Holders, History: hist})
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.Sem.Ping(ctx); err != nil {
		writeError(w, &httpError{http.StatusServiceUnavailable, "etcd_unavailable", err.Error()})
		return
	}
	w.Write([]byte("ok\n"))
}
