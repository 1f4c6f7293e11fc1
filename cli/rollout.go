package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/update/server"
)

// rolloutFlags are the flags every rollout verb shares.
type rolloutFlags struct {
	server, channel, version string
	asJSON                   bool
}

func (f *rolloutFlags) add(cmd *cobra.Command, needChannel bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "imgbuild serve's URL, e.g. http://127.0.0.1:8090")
	fl.StringVar(&f.version, "version", "", "the version's rollout (default: the one the channel offers)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	what := "only this channel"
	if needChannel {
		what = "the channel (required)"
	}
	fl.StringVar(&f.channel, "channel", "", what)
}

func (f *rolloutFlags) check(needChannel bool) error {
	if f.server == "" {
		return usageError{fmt.Errorf("--server is required")}
	}
	if needChannel && f.channel == "" {
		return usageError{fmt.Errorf("--channel is required")}
	}
	return nil
}

func newRollout(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout status|set|pause|resume --server URL --channel C",
		Short: "Show and steer how far a channel's release is offered",
		Long: `Rollout talks to a running imgbuild serve (its /v1/rollouts API, from the
same machine). Without a rollout a channel's release goes to every
machine. A rollout offers it to PERCENT of the channel's machines, chosen
by a hash of machine id and version (the same machines stay in as the
percent grows), optionally growing by STEP every DURATION; a paused
rollout is offered to no new machine. serve pauses a rollout by itself
when machines report rolling its version back (serve --pause-after).

--version names a version other than the channel's current one: one with
a rollout, or (set) a newer one, to stage it at 0% before promoting it.`,
		Example: `  imgbuild rollout status --server http://127.0.0.1:8090
  imgbuild rollout set --server http://127.0.0.1:8090 --channel stable --percent 10 --step 10 --every 1h
  imgbuild rollout pause --server http://127.0.0.1:8090 --channel stable --why "disk errors on 1.4.0"
  imgbuild rollout resume --server http://127.0.0.1:8090 --channel stable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("rollout: name a verb: status, set, pause or resume")}
		},
	}
	cmd.AddCommand(newRolloutStatus(env), newRolloutSet(env), newRolloutPause(env), newRolloutResume(env))
	return cmd
}

func newRolloutStatus(env Env) *cobra.Command {
	var f rolloutFlags
	cmd := &cobra.Command{
		Use:   "status --server URL [--channel C]",
		Short: "Show every channel's rollouts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(false); err != nil {
				return err
			}
			c := &server.Client{Base: f.server}
			list, err := c.Rollouts(cmd.Context(), f.channel)
			if err != nil {
				return fmt.Errorf("rollout: %w", err)
			}
			if f.version != "" {
				var only []server.RolloutStatus
				for _, st := range list {
					if st.Version == f.version {
						only = append(only, st)
					}
				}
				if only == nil {
					return fmt.Errorf("rollout: no rollout of version %s", f.version)
				}
				list = only
			}
			if f.asJSON {
				return printIndentedJSON(env.Stdout, list)
			}
			return printRollouts(env.Stdout, list)
		},
	}
	f.add(cmd, false)
	return cmd
}

func newRolloutSet(env Env) *cobra.Command {
	var (
		f             rolloutFlags
		percent, step int
		every         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "set --server URL --channel C [--percent P] [--step P --every D]",
		Short: "Offer a version to a share of machines, optionally growing on a schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(true); err != nil {
				return err
			}
			fl := cmd.Flags()
			req := server.RolloutRequest{Channel: f.channel, Version: f.version, Action: "set"}
			if fl.Changed("percent") {
				if percent < 0 || percent > 100 {
					return usageError{fmt.Errorf("--percent %d: want 0 to 100", percent)}
				}
				req.Percent = &percent
			}
			if fl.Changed("step") != fl.Changed("every") {
				return usageError{fmt.Errorf("--step and --every go together")}
			}
			if fl.Changed("step") {
				if step < 1 || step > 100 || every <= 0 {
					return usageError{fmt.Errorf("--step %d --every %s: want a step of 1 to 100 every positive duration", step, every)}
				}
				d := server.Duration(every)
				req.Step, req.Every = &step, &d
			}
			if req.Percent == nil && req.Step == nil {
				return usageError{fmt.Errorf("set: give --percent, or --step and --every")}
			}
			return changeRollout(cmd, env, f, req)
		},
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&percent, "percent", 0, "share of the channel's machines offered the version, 0 to 100")
	cmd.Flags().IntVar(&step, "step", 0, "with --every: percent added every interval")
	cmd.Flags().DurationVar(&every, "every", 0, "with --step: the interval, e.g. 1h")
	return cmd
}

func newRolloutPause(env Env) *cobra.Command {
	var (
		f   rolloutFlags
		why string
	)
	cmd := &cobra.Command{
		Use:   "pause --server URL --channel C [--why TEXT]",
		Short: "Offer a version to no further machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(true); err != nil {
				return err
			}
			return changeRollout(cmd, env, f, server.RolloutRequest{Channel: f.channel, Version: f.version, Action: "pause", Why: why})
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&why, "why", "", "the reason, shown by rollout status and fleet status")
	return cmd
}

func newRolloutResume(env Env) *cobra.Command {
	var f rolloutFlags
	cmd := &cobra.Command{
		Use:   "resume --server URL --channel C",
		Short: "Resume a paused rollout (its schedule counts from now)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(true); err != nil {
				return err
			}
			return changeRollout(cmd, env, f, server.RolloutRequest{Channel: f.channel, Version: f.version, Action: "resume"})
		},
	}
	f.add(cmd, true)
	return cmd
}

func changeRollout(cmd *cobra.Command, env Env, f rolloutFlags, req server.RolloutRequest) error {
	c := &server.Client{Base: f.server}
	st, err := c.ChangeRollout(cmd.Context(), req)
	if err != nil {
		return fmt.Errorf("rollout %s: %w", req.Action, err)
	}
	if f.asJSON {
		return printIndentedJSON(env.Stdout, st)
	}
	return printRollouts(env.Stdout, []server.RolloutStatus{*st})
}

func printRollouts(w io.Writer, list []server.RolloutStatus) error {
	if len(list) == 0 {
		fmt.Fprintln(w, "no channel is offered")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tVERSION\tPERCENT\tSCHEDULE\tSTATE\tROLLBACKS")
	for _, st := range list {
		ver := st.Version
		switch {
		case st.Current:
		case version.Compare(st.Version, st.Offered) > 0:
			ver += " (not on the channel yet)"
		default:
			ver += " (superseded)"
		}
		sched := "-"
		if st.Step > 0 {
			sched = fmt.Sprintf("+%d%% every %s", st.Step, time.Duration(st.Every))
		}
		state := "rolling out"
		switch {
		case st.Paused:
			state = "paused: " + st.Why
		case st.Default:
			state = "every machine (no rollout set)"
		case st.PercentNow == 100:
			state = "complete"
		}
		var machines []string
		for _, b := range st.Rollback {
			machines = append(machines, b.Machine)
		}
		rb := "-"
		if len(machines) > 0 {
			rb = strings.Join(machines, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\t%s\t%s\n", st.Channel, ver, st.PercentNow, sched, state, rb)
	}
	return tw.Flush()
}

func printIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
