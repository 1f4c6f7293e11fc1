package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/update/server"
)

func newServe(env Env) *cobra.Command {
	var (
		repoDir, addr, baseURL string
		pubs                   []string
		public, status, asJSON bool
		pauseAfter             int
	)
	cmd := &cobra.Command{
		Use:   "serve --repo DIR",
		Short: "Serve an update repository and answer Omaha update checks",
		Long: `Serve serves the repository's files over HTTP (GET, HEAD, Range) and
answers Omaha v3 update checks at /v1/update/ in the dialect of Flatcar's
update_engine: the app id names the image, the track the channel
(docs/updates.md). It records every machine's reported events in memory
and in DIR/.serve/machines.json, shown at /v1/machines and by
imgbuild serve --status.

Each channel's release goes to every machine unless a rollout limits it
(imgbuild rollout): a share of machines, growing on a schedule, or
paused. When --pause-after machines report rolling a version back
(error 44), its rollout pauses by itself until imgbuild rollout resume.
Rollouts are kept in DIR/.serve/rollouts.json and changed through
/v1/rollouts from this machine only.

It listens on 127.0.0.1 unless --public: a repository served to other
machines belongs behind a proper web server. With --keys-pub it offers a
channel only when its metadata verifies with one of the keys.`,
		Example: `  imgbuild serve --repo out/repo --addr 127.0.0.1:8090 --keys-pub keys/release.pub
  imgbuild serve --repo out/repo --status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repoDir == "" {
				return usageError{fmt.Errorf("--repo is required")}
			}
			if status {
				return printMachines(env.Stdout, repoDir, asJSON)
			}
			if err := checkLoopback(addr, public); err != nil {
				return usageError{err}
			}
			if pauseAfter < 0 {
				return usageError{fmt.Errorf("--pause-after %d: want 0 (never) or more", pauseAfter)}
			}
			if pauseAfter == 0 {
				pauseAfter = -1 // server.Options: negative is never
			}
			keys, err := loadPublicKeys(pubs)
			if err != nil {
				return err
			}
			logw := &lockedWriter{w: env.Stderr}
			s, err := server.New(repoDir, server.Options{Keys: keys, BaseURL: baseURL, PauseAfter: pauseAfter, Log: func(line string) {
				fmt.Fprintf(logw, "%s %s\n", time.Now().UTC().Format("15:04:05"), line)
			}})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, env, s, addr, repoDir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&repoDir, "repo", "", "update repository directory")
	f.StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on (port 0 picks a free one)")
	f.StringVar(&baseURL, "base-url", "", "repository URL to put in Omaha answers (default http://<the request's Host>/)")
	f.StringArrayVar(&pubs, "keys-pub", nil, "offer only channels signed by this public key (repeatable)")
	f.IntVar(&pauseAfter, "pause-after", 1, "pause a version's rollout once this many machines rolled it back (0: never)")
	f.BoolVar(&public, "public", false, "allow listening on a non-loopback address")
	f.BoolVar(&status, "status", false, "print the machines recorded in the repository and exit (no server)")
	f.BoolVar(&asJSON, "json", false, "with --status: print JSON")
	return cmd
}

func serve(ctx context.Context, env Env, h http.Handler, addr, repoDir string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.Stdout, "serving %s at %s/ (Omaha: %s%s, machines: %s%s, rollouts: %s%s)\n", repoDir, base, base, server.OmahaPath, base, server.MachinesPath, base, server.RolloutsPath)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// checkLoopback refuses an address other machines could reach unless
// --public: the repository's server is a development and test tool.
func checkLoopback(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if public {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %q is not a loopback address: other machines could reach it; pass --public to mean that", addr)
}

func printMachines(w io.Writer, repoDir string, asJSON bool) error {
	list, err := server.ReadMachines(server.MachinesFile(repoDir))
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []*server.Machine{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(w, "no machine has reported to %s yet\n", repoDir)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tVERSION\tCHANNEL\tLAST EVENT\tLAST ERROR\tLAST SEEN")
	for _, m := range list {
		last, lastErr := "-", "-"
		if e := m.LastEvent; e != nil {
			last = fmt.Sprintf("%d/%d %s", e.Type, e.Result, e.Meaning)
		}
		if e := m.LastError; e != nil {
			lastErr = server.ErrorName(e.ErrorCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Version, m.Channel, last, lastErr, m.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return tw.Flush()
}

// lockedWriter serializes the log lines of concurrent requests.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
