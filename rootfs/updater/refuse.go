package updater

import (
	"errors"
	"fmt"
)

// Refusal is an update the agent would not install, with the Omaha
// error code it reports (contract.Err*).
type Refusal struct {
	Code int
	Err  error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(code int, format string, args ...any) error {
	return &Refusal{Code: code, Err: fmt.Errorf(format, args...)}
}

// Code is the Omaha error code of err: a Refusal's, or fallback.
func Code(err error, fallback int) int {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return fallback
}
