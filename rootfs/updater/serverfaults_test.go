package updater

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// An Omaha server answering garbage, a huge body, nothing, or a byte at
// a time: each check fails within the agent's bound with an error
// naming what the server did, recorded for imgbuild-agent status, and
// nothing on the disk or the ESP changes. The next check, against a
// good server, installs.
func TestOmahaServerFaults(t *testing.T) {
	m, good := omahaOffering(t)
	m.a.OmahaTimeout = 500 * time.Millisecond

	var sent atomic.Int64 // bytes of the huge body the agent took
	chunk := []byte("<response protocol=\"3.0\">" + strings.Repeat(" ", 64<<10))
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body>502 upstream gone</body></html>"))
		}, "omaha response: expected element type <response> but have <html>"},
		{"not XML", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("\x00\x01\x02 binary"))
		}, "omaha response: XML syntax error"},
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			for range 1024 { // 64 MiB
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}, "answer larger than 1024 KiB; not read"},
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			// Read first: net/http notices the agent hanging up (and
			// ends r's context) only once the body is read.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, "no complete answer within 0."},
		{"trickles", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("<"))
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				w.Write([]byte(" "))
			}
		}, "read answer: no complete answer within 0."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			disk, esp := m.passiveHash(), m.espSnapshot()
			start := time.Now()
			installed, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable")
			took := time.Since(start)
			if err == nil || installed || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("CheckOmaha = %v, %v; want an error naming the server and %q", installed, err, tc.want)
			}
			if took > 3*time.Second {
				t.Errorf("the check took %v against a bound of %v", took, m.a.OmahaTimeout)
			}
			st, serr := m.a.Status(srv.URL, "stable")
			if serr != nil || st.LastError != err.Error() || st.LastErrorCode != contract.ErrDownload ||
				!strings.HasPrefix(st.Why, "the last attempt failed: ") || st.LastOffered == "2.0.0" {
				t.Errorf("status = %+v, %v", st, serr)
			}
			if m.passiveHash() != disk || !maps.Equal(m.espSnapshot(), esp) {
				t.Error("a failed check changed the passive slot or the ESP")
			}
		})
	}
	// Socket buffers let the server write a few MiB more than the agent
	// read, never the whole 64 MiB.
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the server got %d MiB of its huge body out", n>>20)
	}

	srv := httptest.NewServer(good)
	defer srv.Close()
	installed, err := m.a.CheckOmaha(context.Background(), srv.URL+"/v1/update/", "stable")
	if err != nil || !installed {
		t.Fatalf("check against a good server after the faults = %v, %v", installed, err)
	}
	st, err := m.a.Status(srv.URL, "stable")
	if err != nil || st.Other.Version != "2.0.0" || st.Other.State != "trial" || st.LastError != "" {
		t.Errorf("status after the good check = %+v, %v", st, err)
	}
}
