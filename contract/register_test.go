package contract

import (
	"testing"
	"time"
)

func TestServiceStateRoundTrip(t *testing.T) {
	in := ServiceState{State: StateUnhealthy, Since: time.Date(2026, 12, 6, 12, 0, 0, 5, time.UTC)}
	out, err := ParseServiceState(in.Format())
	if err != nil {
		t.Fatal(err)
	}
	if out.State != in.State || !out.Since.Equal(in.Since) {
		t.Errorf("got %+v, want %+v", out, in)
	}
	for _, bad := range []string{"", "healthy", "up 2026-12-06T12:00:00Z", "healthy yesterday"} {
		if _, err := ParseServiceState([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
