package supervise

import (
	"fmt"

	"github.com/imgbuild/imgbuild/contract"
)

var restartPolicies = map[string]bool{"always": true, "on-failure": true, "never": true, "": true}

// Validate checks names, references, policies and that the `after`
// graph has no cycle (which would leave services waiting forever).
func Validate(services []contract.Service) error {
	byName := map[string]*contract.Service{}
	for i := range services {
		s := &services[i]
		if s.Name == "" {
			return fmt.Errorf("service %d: no name", i)
		}
		if byName[s.Name] != nil {
			return fmt.Errorf("service %q: defined twice", s.Name)
		}
		if s.Command == "" {
			return fmt.Errorf("service %q: no command", s.Name)
		}
		if !restartPolicies[s.Restart] {
			return fmt.Errorf("service %q: unknown restart policy %q", s.Name, s.Restart)
		}
		if h := s.Health; h != nil && (h.TCPPort > 0) == (h.HTTPURL != "") {
			return fmt.Errorf("service %q: health needs exactly one of tcp_port and http_url", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range services {
		for _, a := range s.After {
			if byName[a] == nil {
				return fmt.Errorf("service %q: after unknown service %q", s.Name, a)
			}
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("services: dependency cycle %v", append(path, name))
		case done:
			return nil
		}
		state[name] = visiting
		for _, a := range byName[name].After {
			if err := visit(a, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	for _, s := range services {
		if err := visit(s.Name, nil); err != nil {
			return err
		}
	}
	return nil
}
