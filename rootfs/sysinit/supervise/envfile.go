package supervise

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// readEnvFile reads dir/NAME.env: KEY=VALUE lines, blank lines and lines
// starting with # skipped, no quoting (the value is the rest of the
// line). A missing file is no settings. It is read at every start, so a
// changed file takes effect on the next restart.
func readEnvFile(dir, name string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	p := filepath.Join(dir, name+".env")
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", p, n, line)
		}
		env = append(env, line)
	}
	return env, sc.Err()
}
