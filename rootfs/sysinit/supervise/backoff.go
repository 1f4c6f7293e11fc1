package supervise

import "time"

// Defaults for services that leave their backoff zero.
const (
	defaultBackoff    = time.Second
	defaultMaxBackoff = 30 * time.Second
)

// backoff doubles a restart delay up to a ceiling.
type backoff struct {
	first, max, next time.Duration
}

func newBackoff(firstMS, maxMS int64) *backoff {
	b := &backoff{first: defaultBackoff, max: defaultMaxBackoff}
	if firstMS > 0 {
		b.first = time.Duration(firstMS) * time.Millisecond
	}
	if maxMS > 0 {
		b.max = time.Duration(maxMS) * time.Millisecond
	}
	if b.max < b.first {
		b.max = b.first
	}
	b.next = b.first
	return b
}

// delay returns the delay to wait now and doubles the next one.
func (b *backoff) delay() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	return d
}

func (b *backoff) reset() { b.next = b.first }
