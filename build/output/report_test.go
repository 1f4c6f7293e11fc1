package output

import (
	"errors"
	"testing"
)

func TestStep(t *testing.T) {
	var got []Event
	r := Reporter(func(e Event) { got = append(got, e) })
	if err := r.Step("a", func() (string, error) { return "made", nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := r.Step("b", func() (string, error) { return "", boom }); err != boom {
		t.Fatalf("Step returned %v, want the step's error", err)
	}
	want := []struct{ step, status, detail string }{{"a", "start", ""}, {"a", "done", "made"}, {"b", "start", ""}, {"b", "fail", "boom"}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if e := got[i]; e.Step != w.step || e.Status != w.status || e.Detail != w.detail {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	var none Reporter
	if err := none.Step("c", func() (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
}
