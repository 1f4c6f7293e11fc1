package confine

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
)

// Verb, as sysinit's first argument, makes it the last step before a
// bare service's command: Apply the policy (the next argument, JSON),
// then execute the rest of the arguments in its place.
const Verb = "imgbuild-confine"

// Argv is how a service's command starts confined: through self (sysinit).
func Argv(self string, p Policy, argv []string) ([]string, error) {
	js, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append([]string{self, Verb, string(js)}, argv...), nil
}

// ExecMain is Verb's body: args are the policy, then the command's argv.
// It returns only on failure, with the exit status.
func ExecMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintf(os.Stderr, "%s: want POLICY COMMAND [ARG...]\n", Verb)
		return 2
	}
	var p Policy
	if err := json.Unmarshal([]byte(args[0]), &p); err != nil {
		fmt.Fprintf(os.Stderr, "%s: policy: %v\n", Verb, err)
		return 2
	}
	if err := Apply(p); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Verb, err)
		return 1
	}
	err := syscall.Exec(args[1], args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", Verb, args[1], err)
	return 127
}
