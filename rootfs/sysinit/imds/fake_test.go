package imds

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeIMDS answers as IMDSv2 with the token required: a GET without the
// token it issued is 401, as on an instance whose metadata options say
// HttpTokens=required.
type fakeIMDS struct {
	mu       sync.Mutex
	items    map[string]string // /latest/... -> body
	fail     map[string]int    // path -> status to answer (every time)
	failOnce map[string]int    // path -> how many 500s before answering
	puts     int
	requests []string
}

const fakeToken = "AQAEAFakeTokenXyz=="

func newFake(t testing.TB, items map[string]string) (*fakeIMDS, *httptest.Server) {
	f := &fakeIMDS{items: items, fail: map[string]int{}, failOnce: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if code := f.fail[r.URL.Path]; code != 0 {
		http.Error(w, "fail", code)
		return
	}
	if f.failOnce[r.URL.Path] > 0 {
		f.failOnce[r.URL.Path]--
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get(ttlHeader) == "" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		f.puts++
		w.Write([]byte(fakeToken))
		return
	}
	if r.Method != http.MethodGet || r.Header.Get(tokenHeader) != fakeToken {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	body, ok := f.items[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(body))
}

func (f *fakeIMDS) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}
