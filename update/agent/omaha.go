package agent

import (
	"context"
	"fmt"
)

// CheckOmaha asks an Omaha server for an update (docs/updates.md).
func (a *Agent) CheckOmaha(ctx context.Context, server, channel string) (bool, error) {
	return false, fmt.Errorf("agent: Omaha: not implemented yet")
}
