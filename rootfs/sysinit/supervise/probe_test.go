package supervise

import (
	"testing"
	"time"
)

func TestNextProbe(t *testing.T) {
	const ms = time.Millisecond
	for _, c := range []struct {
		elapsed, prev, interval, want time.Duration
	}{
		{0, 0, 1000 * ms, firstProbe},
		{0, 0, 10 * ms, 10 * ms},
		{20 * ms, firstProbe, 1000 * ms, fastProbe},
		{4 * time.Second, fastProbe, 1000 * ms, fastProbe},
		{4 * time.Second, fastProbe, 30 * ms, 30 * ms},
		{fastProbeFor, fastProbe, 1000 * ms, 2 * fastProbe},
		{6 * time.Second, 800 * ms, 1000 * ms, 1000 * ms},
	} {
		if got := nextProbe(c.elapsed, c.prev, c.interval); got != c.want {
			t.Errorf("nextProbe(%v, %v, %v) = %v, want %v", c.elapsed, c.prev, c.interval, got, c.want)
		}
	}
}

// TestProbesUntilUpAreFast: a check whose service starts listening 0.7 s
// after the watch began passes well within fastProbe of it, where
// doubling waits would have reached 1.26 s.
func TestProbesUntilUpAreFast(t *testing.T) {
	var at time.Duration
	var wait time.Duration
	for at < 700*time.Millisecond {
		wait = nextProbe(at, wait, time.Second)
		at += wait
	}
	if at > 700*time.Millisecond+fastProbe {
		t.Errorf("first probe after 0.7 s at %v", at)
	}
}
