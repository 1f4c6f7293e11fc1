package repo

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/sign"
)

// Why Vouched refuses a payload (errors.Is): the refusals every reader
// of a payload shares, `imgbuild release` before it publishes one and the
// update agent before it downloads one.
var (
	// ErrNotVouched: a file of a kind the record does not name, or one
	// announced without a kind whose sha256 the record does not name.
	ErrNotVouched = errors.New("not vouched for by the release record")
	// ErrWrongSHA256: a file of a kind the record names, with another
	// sha256 than the record's.
	ErrWrongSHA256 = errors.New("wrong sha256")
	// ErrMissing: the payload lacks a file the record names (see Require).
	ErrMissing = errors.New("missing file")
	// ErrUSRSize: the usr file's size is not the record's usr_size.
	ErrUSRSize = errors.New("wrong usr size")
)

// Require says which of the files a record names a payload must hold.
type Require int

const (
	// RequireBase: usr, kernel and initramfs. The agent needs a slot's
	// UKI only on a machine that boots UKIs, and checks that itself.
	RequireBase Require = iota
	// RequireAll: every file the record names, both slots' UKIs too: a
	// release must serve machines on either slot.
	RequireAll
)

// Named is every payload kind the record names, with its sha256: usr,
// kernel, initramfs, and KindUKI+slot for each UKI.
func Named(rec *sign.Record) map[string]string {
	out := map[string]string{KindUSR: rec.USR, KindKernel: rec.Kernel, KindInitramfs: rec.Initramfs}
	for slot, sum := range rec.UKI {
		out[KindUKI+slot] = sum
	}
	return out
}

// Vouched checks that a verified record vouches for a payload's files
// and returns them by kind (the record and its signature, which vouch
// for themselves, included as they came). A file announced with a kind
// must have the sha256 the record names for that kind; a file announced
// without one (Omaha lists packages by hash) takes the kind the record
// gives its sha256. The usr file's size must be the record's. Every
// refusal wraps one of the Err* above.
func Vouched(rec *sign.Record, files []File, req Require) (map[string]File, error) {
	named := Named(rec)
	bySum := map[string]string{}
	for kind, sum := range named {
		bySum[sum] = kind
	}
	out := map[string]File{}
	for _, f := range files {
		if f.Kind == KindRecord || f.Kind == KindSignature {
			out[f.Kind] = f
			continue
		}
		kind := f.Kind
		if kind == "" {
			if kind = bySum[f.SHA256]; kind == "" {
				return nil, fmt.Errorf("file %s (sha256 %s): %w of %s", f.Path, f.SHA256, ErrNotVouched, rec.Version)
			}
		}
		sum, ok := named[kind]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s file %s: %w of %s, which names no %s", kind, f.Path, ErrNotVouched, rec.Version, kind)
		case f.SHA256 != sum:
			return nil, fmt.Errorf("%w: the %s file %s of %s has sha256 %s, the record says %s", ErrWrongSHA256, kind, f.Path, rec.Version, f.SHA256, sum)
		}
		f.Kind = kind
		out[kind] = f
	}
	need := []string{KindUSR, KindKernel, KindInitramfs}
	if req == RequireAll {
		need = need[:0]
		for kind := range named {
			need = append(need, kind)
		}
		sort.Strings(need)
	}
	for _, kind := range need {
		if _, ok := out[kind]; !ok {
			hint := ""
			if strings.HasPrefix(kind, KindUKI) {
				hint = " (a Secure Boot release needs uki-a and uki-b)"
			}
			return nil, fmt.Errorf("%w: the record of %s names a %s the payload does not hold%s", ErrMissing, rec.Version, kind, hint)
		}
	}
	if usr := out[KindUSR]; usr.Size != rec.USRSize {
		return nil, fmt.Errorf("%w: the usr file %s of %s is %d bytes, the record says %d", ErrUSRSize, usr.Path, rec.Version, usr.Size, rec.USRSize)
	}
	return out, nil
}
