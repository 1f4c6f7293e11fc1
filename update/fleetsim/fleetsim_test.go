package fleetsim

import (
	"context"
	"testing"
)

// TestFleet rolls v2 out to 20 machines through two lock slots with
// both servers restarted midway; Run itself fails on a broken check.
func TestFleet(t *testing.T) {
	res, err := Run(context.Background(), Options{Machines: 20, Slots: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if res.PeakReboots < 1 || res.PeakReboots > 2 {
		t.Errorf("peak concurrent reboots %d, want 1..2", res.PeakReboots)
	}
	if !res.Restarted {
		t.Error("the servers were not restarted")
	}
	if len(res.Checks) == 0 || len(res.Installs) != 20 || len(res.Locks) < 2*20 {
		t.Errorf("%d checks and %d lock calls measured", len(res.Checks), len(res.Locks))
	}
	t.Logf("converged in %v; peak %d/%d; checks p50 %v p99 %v; locks p50 %v p99 %v; 3/2 on record %d/20; failed checks %d",
		res.Converge, res.PeakReboots, res.Slots, Percentile(res.Checks, 50), Percentile(res.Checks, 99),
		Percentile(res.Locks, 50), Percentile(res.Locks, 99), res.Completed, res.FailedChecks)
}
