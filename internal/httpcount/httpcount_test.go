package httpcount

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTotal(t *testing.T) {
	c := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", len(r.URL.Path)))
	}))
	srv := httptest.NewServer(c)
	defer srv.Close()
	for _, p := range []string{"/a/1", "/a/22", "/b/333", "/a/1"} {
		r, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if got := c.Total("/a/"); got != 4+5+4 {
		t.Errorf("Total(/a/) = %d, want 13", got)
	}
	if got := c.Total("/"); got != 13+6 {
		t.Errorf("Total(/) = %d, want 19", got)
	}
}
