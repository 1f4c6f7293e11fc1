package server

import (
	"fmt"

	"github.com/imgbuild/imgbuild/contract"
)

// errorNames are the agent's Omaha error codes (contract/update.go).
var errorNames = map[int]string{
	contract.ErrDownload:       "download failed",
	contract.ErrSize:           "wrong size",
	contract.ErrSHA256:         "wrong sha256",
	contract.ErrSignature:      "bad signature",
	contract.ErrName:           "another image's release",
	contract.ErrArch:           "another architecture",
	contract.ErrNotNewer:       "not newer than the running version",
	contract.ErrDenied:         "version on the denylist",
	contract.ErrTooBig:         "larger than the passive slot",
	contract.ErrMinVersion:     "running version below the release's min_version",
	contract.ErrWrite:          "writing the passive slot failed",
	contract.ErrRollback:       "rolled back: the new release's trial boots failed",
	contract.ErrPinned:         "version pin forbids it",
	contract.ErrUnknownPayload: "payload file the record does not vouch for",
	contract.ErrKernelArgs:     "kernel arguments that name a slot",
}

// EventMeaning is an Omaha event in words, in Flatcar's dialect.
func EventMeaning(typ, result, code int) string {
	switch {
	case typ == 13 && result == 1:
		return "download started"
	case typ == 14 && result == 1:
		return "download finished"
	case typ == 3 && result == 1:
		return "installed"
	case typ == 3 && result == 2:
		return "running the new version"
	case typ == 3 && result == 0:
		return "error " + ErrorName(code)
	}
	return fmt.Sprintf("event %d/%d", typ, result)
}

// ErrorName is an error code with its meaning, e.g. "44 (rolled back: …)".
func ErrorName(code int) string {
	if n, ok := errorNames[code]; ok {
		return fmt.Sprintf("%d (%s)", code, n)
	}
	return fmt.Sprint(code)
}
