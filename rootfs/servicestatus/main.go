package servicestatus

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

// Paths is where Main reads: the records and cgroup2's mount.
type Paths struct {
	StatusDir  string // contract.ServiceStatusDir
	CgroupRoot string // the services' groups are below CgroupRoot/services
}

// Status is one service as shown: its record and its usage.
type Status struct {
	Record
	Restarts int   `json:"restarts"`
	Usage    Usage `json:"usage"`
}

// Main is imgbuild-services: `status [-json] [NAME...]`, the default
// verb. It returns the exit status: 3 when a service named is not
// running, as systemctl status does.
func Main(args []string, p Paths, now time.Time, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		args = args[1:]
	}
	fl := flag.NewFlagSet(contract.ServicesCommand+" status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "one JSON object per service, with its usage")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	recs, err := ReadAll(p.StatusDir)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", contract.ServicesCommand, err)
		return 1
	}
	byName := map[string]Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	if fl.NArg() > 0 {
		recs = recs[:0]
		for _, n := range fl.Args() {
			r, ok := byName[n]
			if !ok {
				fmt.Fprintf(stderr, "%s: no service %q on this machine\n", contract.ServicesCommand, n)
				return 1
			}
			recs = append(recs, r)
		}
	}
	var shown []Status
	down := false
	for _, r := range recs {
		shown = append(shown, Status{Record: r, Restarts: r.Restarts(), Usage: ReadUsage(filepath.Join(p.CgroupRoot, "services", r.Name))})
		down = down || r.PID == 0
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, s := range shown {
			if err := enc.Encode(s); err != nil {
				return 1
			}
		}
	} else {
		show(stdout, shown, now)
	}
	if fl.NArg() > 0 && down {
		return 3
	}
	return 0
}

func show(w io.Writer, shown []Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tSINCE\tPID\tRESTARTS\tMEMORY\tPEAK\tLIMIT\tOOM\tTASKS\tCPU\tLAST EXIT")
	for _, s := range shown {
		u := s.Usage
		pid, last := "-", "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		if s.LastExit != "" {
			last = s.LastExit + ", " + ago(now, s.LastAt)
		}
		tasks := count(u.Pids)
		if u.PidsMax >= 0 {
			tasks += "/" + count(u.PidsMax)
		}
		cpu := "-"
		if u.CPUUsec >= 0 {
			cpu = (time.Duration(u.CPUUsec) * time.Microsecond).Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.State, ago(now, s.Since), pid, s.Restarts,
			size(u.MemoryBytes), size(u.MemoryPeak), size(u.MemoryMax), count(u.OOMKills), tasks, cpu, last)
	}
	tw.Flush()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		d = d.Round(100 * time.Millisecond)
	case d < time.Hour:
		d = d.Round(time.Second)
	default:
		d = d.Round(time.Minute)
	}
	return d.String() + " ago"
}

func count(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func size(n int64) string {
	if n < 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f, u = f/1024, u+1
	}
	if u == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.1f%s", f, units[u])
}
