// Package ctxtime waits for a duration or a context, whichever ends
// first.
package ctxtime

import (
	"context"
	"time"
)

// Sleep waits d and returns nil, or returns ctx's error as soon as ctx
// is done. A d of zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
