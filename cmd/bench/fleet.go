package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/imgbuild/imgbuild/update/fleetsim"
)

// fleetMachines is -fleet: the simulated fleet's size (-quick: 100).
var fleetMachines = flag.Int("fleet", 1000, "machines in the simulated fleet rollout (update/fleetsim); 0 skips it; -quick makes it 100")

// fleetRows appends the simulated fleet's rollout to rows: N real
// agents against imgbuild serve and FleetLock over etcd on 127.0.0.1,
// one lock slot per 100 machines. A broken check fails the bench.
func fleetRows(rows []row) ([]row, error) {
	n := *fleetMachines
	if quick && !flagSet("fleet") {
		n = 100
	}
	if n <= 0 {
		return rows, nil
	}
	slots := max(1, n/100)
	// Checks are compressed from minutes to seconds apart (3 ms per
	// machine): a denser fleet on two cores only measures the cores.
	interval := max(200*time.Millisecond, time.Duration(n)*3*time.Millisecond)
	res, err := fleetsim.Run(context.Background(), fleetsim.Options{Machines: n, Slots: slots, Interval: interval,
		Logf: func(format string, args ...any) {
			if os.Getenv("IMGBUILD_BENCH_VERBOSE") != "" {
				fmt.Fprintf(os.Stderr, format+"\n", args...)
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("fleet of %d: %w", n, err)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	what := fmt.Sprintf("fleet of %d simulated machines (real agent, imgbuild serve, FleetLock over etcd, 127.0.0.1; checks every ~%v)", n, interval)
	return append(rows,
		row{what + ": v1 to all on v2, lock given back, both servers restarted midway", secs(res.Converge), "—"},
		row{fmt.Sprintf("fleet: update check (no update) p50 / p99 (%d checks)", len(res.Checks)),
			ms(fleetsim.Percentile(res.Checks, 50)) + " / " + ms(fleetsim.Percentile(res.Checks, 99)), "—"},
		row{fmt.Sprintf("fleet: check that installs v2 (request, download, write the passive slot) p50 / p99 (%d)", len(res.Installs)),
			ms(fleetsim.Percentile(res.Installs, 50)) + " / " + ms(fleetsim.Percentile(res.Installs, 99)), "—"},
		row{fmt.Sprintf("fleet: FleetLock call p50 / p99 (%d calls)", len(res.Locks)),
			ms(fleetsim.Percentile(res.Locks, 50)) + " / " + ms(fleetsim.Percentile(res.Locks, 99)), "—"},
		row{"fleet: peak concurrent reboots / lock slots", fmt.Sprintf("%d / %d", res.PeakReboots, res.Slots), "≤ slots"},
		row{"fleet: update-complete reports on record / failed checks (server restarts)",
			fmt.Sprintf("%d of %d / %d", res.Completed, res.Machines, res.FailedChecks), "—"},
	), nil
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
