package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flatcar/go-omaha/omaha"
)

// FuzzOmahaRequest posts whatever a machine (or anyone who reaches the
// port) might send: serve must answer every request with an Omaha
// response that parses, or refuse it as a bad request.
func FuzzOmahaRequest(f *testing.F) {
	fx := newFixture(f)
	for _, body := range []string{checkBody, fmt.Sprintf(rebootedBody, "1.0.0"), fmt.Sprintf(reasonBody, 7), fmt.Sprintf(eventBody, 3, 2)} {
		f.Add([]byte(fmt.Sprintf(flatcarRequest, fx.appID, "1.0.0", "alpha", testMachineID, body)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		fx.s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, OmahaPath, strings.NewReader(string(body))))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d:\n%s", w.Code, w.Body)
		}
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
			return // refused before parsing: a plain-text reason
		}
		if _, err := omaha.ParseResponse(w.Header().Get("Content-Type"), w.Body); err != nil {
			t.Errorf("answer does not parse: %v", err)
		}
	})
}
