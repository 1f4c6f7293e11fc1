package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/update/server"
)

// fleetRow is one machine in fleet status.
type fleetRow struct {
	ID         string    `json:"machine_id"`
	Version    string    `json:"version"`
	Channel    string    `json:"channel"`
	State      string    `json:"state"`
	LastReport time.Time `json:"last_report"`
	Why        string    `json:"why"`
	HoldsLock  bool      `json:"holds_lock,omitempty"`
}

// fleetLock is a FleetLock server's GET /v1/status answer.
type fleetLock struct {
	Group   string   `json:"group"`
	Slots   int      `json:"slots"`
	Holders []string `json:"holders"`
}

type fleetStatus struct {
	Machines  []fleetRow `json:"machines"`
	FleetLock *fleetLock `json:"fleetlock,omitempty"`
}

func newFleetStatus(env Env) *cobra.Command {
	var (
		serverURL, lockURL string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "status --server URL [--fleetlock URL]",
		Short: "One row per machine: its version, last report and why it is not updating",
		Long: `Status asks a running imgbuild serve for its machines and rollouts and
prints one row per machine: its id, the version it runs, its channel,
what its last report said, when, and why it is not updating (on the
newest version, outside the rollout, rollout paused, rolled back, or
waiting for its next check or its download). With --fleetlock it also
asks that FleetLock server which machines hold its reboot lock.`,
		Example: `  imgbuild fleet status --server http://127.0.0.1:8090
  imgbuild fleet status --server http://127.0.0.1:8090 --fleetlock http://127.0.0.1:8091 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if serverURL == "" {
				return usageError{fmt.Errorf("--server is required")}
			}
			st, err := collectFleet(cmd.Context(), serverURL, lockURL, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return printIndentedJSON(env.Stdout, st)
			}
			return printFleet(env.Stdout, st)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "imgbuild serve's URL, e.g. http://127.0.0.1:8090")
	f.StringVar(&lockURL, "fleetlock", "", "a FleetLock server's URL: show the reboot lock's holders")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func collectFleet(ctx context.Context, serverURL, lockURL string, now time.Time) (*fleetStatus, error) {
	c := &server.Client{Base: serverURL}
	machines, err := c.Machines(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet status: machines: %w", err)
	}
	rollouts, err := c.Rollouts(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("fleet status: rollouts: %w", err)
	}
	st := &fleetStatus{Machines: []fleetRow{}}
	holds := map[string]bool{}
	if lockURL != "" {
		if st.FleetLock, err = getFleetLock(ctx, lockURL); err != nil {
			return nil, err
		}
		for _, h := range st.FleetLock.Holders {
			holds[strings.ToLower(h)] = true
		}
	}
	for _, m := range machines {
		state := "checked"
		if m.LastEvent != nil && !m.LastEvent.Time.Before(m.LastCheck) {
			state = m.LastEvent.Meaning
		}
		st.Machines = append(st.Machines, fleetRow{ID: m.ID, Version: m.Version, Channel: m.Channel, State: state,
			LastReport: m.LastSeen, Why: server.WhyNotUpdating(m, rollouts, now), HoldsLock: holds[strings.ToLower(m.ID)]})
	}
	return st, nil
}

// getFleetLock reads the default group's holders.
func getFleetLock(ctx context.Context, base string) (*fleetLock, error) {
	u := strings.TrimSuffix(base, "/") + "/v1/status?group=" + url.QueryEscape("default")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fleet status: --fleetlock: %w", err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fleet status: fleetlock: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fleet status: fleetlock: GET %s: %s", u, resp.Status)
	}
	var fl fleetLock
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&fl); err != nil {
		return nil, fmt.Errorf("fleet status: fleetlock: GET %s: %w", u, err)
	}
	return &fl, nil
}

func printFleet(w io.Writer, st *fleetStatus) error {
	if fl := st.FleetLock; fl != nil {
		holders := "nobody"
		if len(fl.Holders) > 0 {
			holders = strings.Join(fl.Holders, ", ")
		}
		fmt.Fprintf(w, "reboot lock (group %s): %d of %d slots held by %s\n", fl.Group, len(fl.Holders), fl.Slots, holders)
	}
	if len(st.Machines) == 0 {
		fmt.Fprintln(w, "no machine has reported yet")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	lock := ""
	if st.FleetLock != nil {
		lock = "\tLOCK"
	}
	fmt.Fprintf(tw, "MACHINE\tVERSION\tCHANNEL\tSTATE\tLAST REPORT%s\tWHY NOT UPDATING\n", lock)
	for _, m := range st.Machines {
		lock := ""
		if st.FleetLock != nil {
			lock = "\t-"
			if m.HoldsLock {
				lock = "\tholds"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t%s\n", m.ID, m.Version, m.Channel, m.State, m.LastReport.UTC().Format("2006-01-02 15:04:05 UTC"), lock, m.Why)
	}
	return tw.Flush()
}
