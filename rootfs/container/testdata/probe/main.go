// Command probe is a container service for the tests: it reports what
// it sees from inside, once on stdout with -report, else to every HTTP
// request on -listen (GET /bump also counts in its state directory).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// report says what the probe sees; bump adds one to the count in its
// state directory (health checks must not).
func report(bump bool) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "hostname=%s\nuid=%d\n", host, os.Getuid())
	// PID 1 of its own namespace is the container's init.
	cmdline, _ := os.ReadFile("/proc/1/cmdline")
	fmt.Fprintf(&b, "pid1=%s\n", strings.ReplaceAll(string(cmdline), "\x00", " "))
	entries, _ := os.ReadDir("/")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	fmt.Fprintf(&b, "root=%s\n", strings.Join(names, ","))
	secret, err := os.ReadFile("/app/secret.txt")
	fmt.Fprintf(&b, "secret=%s (%v)\n", strings.TrimSpace(string(secret)), err)
	_, err = os.Stat("/usr/lib/os-release")
	fmt.Fprintf(&b, "host-os-release=%v\n", !errors.Is(err, os.ErrNotExist))
	err = os.WriteFile("/written", nil, 0o644)
	fmt.Fprintf(&b, "write-root=%v\n", errors.Is(err, syscall.EROFS))
	if dir := os.Getenv("STATE"); dir != "" && bump {
		p := filepath.Join(dir, "count")
		old, _ := os.ReadFile(p)
		n, _ := strconv.Atoi(string(old))
		err := os.WriteFile(p, []byte(strconv.Itoa(n+1)), 0o644)
		fmt.Fprintf(&b, "state-count=%d (%v)\n", n+1, err)
	}
	fmt.Fprintf(&b, "env-mode=%s\n", os.Getenv("MODE"))
	return b.String()
}

func main() {
	once := flag.Bool("report", false, "print the report and exit")
	listen := flag.String("listen", ":8080", "address to serve the report on")
	flag.Parse()
	if *once {
		fmt.Print(report(true))
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, report(r.URL.Path == "/bump")) })
	fmt.Println("probe: listening on", *listen)
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
