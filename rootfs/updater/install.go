package updater

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/version"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

// Offer is a release a server or a repository offers: its files as
// announced (kind may be empty: an Omaha response lists packages by
// hash only, record first and signature second).
type Offer struct {
	Version string
	Source  Source
	Files   []repo.File
}

// Event is what the agent reports to an Omaha server (docs/updates.md).
type Event struct {
	Type      int    `json:"type"`
	Result    int    `json:"result"`
	ErrorCode int    `json:"error_code,omitempty"` // with Result 0
	Previous  string `json:"previous,omitempty"`   // with 3/2: the version that installed this one
	Reason    string `json:"reason,omitempty"`     // human text (Omaha has no field; logged)
	// RolledBack is, with a rollback (44), the version whose trial
	// failed (contract.OmahaRolledBackAttr).
	RolledBack string `json:"rolled_back,omitempty"`
}

// Omaha event types and results, as Flatcar's update_engine uses them.
const (
	EventDownloadStarted  = 13
	EventDownloadFinished = 14
	EventUpdateComplete   = 3
	ResultError           = 0
	ResultSuccess         = 1
	ResultSuccessReboot   = 2
)

// Reporter sends events to the update server.
type Reporter interface {
	Report(ctx context.Context, e Event) error
}

func (a *Agent) report(ctx context.Context, e Event) error {
	if a.Reporter == nil {
		return nil
	}
	err := a.Reporter.Report(ctx, e)
	if err != nil {
		a.logf("report event %d/%d: %v", e.Type, e.Result, err)
	}
	return err
}

// reportOutcome reports what a boot settled (marked good, rolled back)
// after any outcome still unsent; what the server does not take stays
// in st.Unsent for the next check.
func (a *Agent) reportOutcome(ctx context.Context, st *State, e Event) {
	st.Unsent = append(st.Unsent, e)
	if len(st.Unsent) > maxUnsent {
		st.Unsent = slices.Clone(st.Unsent[len(st.Unsent)-maxUnsent:])
	}
	a.sendUnsent(ctx, st)
}

// sendUnsent sends st.Unsent in order, stopping at the first failure.
func (a *Agent) sendUnsent(ctx context.Context, st *State) {
	for len(st.Unsent) > 0 {
		if a.report(ctx, st.Unsent[0]) != nil {
			return
		}
		st.Unsent = st.Unsent[1:]
	}
	st.Unsent = nil
}

// payload is an offer whose record was verified and whose files were
// identified against it.
type payload struct {
	rec        *sign.Record
	recRaw     []byte
	sigRaw     []byte
	byKind     map[string]repo.File
	downloaded map[string]string // kind -> file in the state directory
}

// Install checks, downloads and writes an offer to the passive slot. A
// refusal (*Refusal) leaves the passive slot exactly as it was; every
// outcome is reported and recorded in the state.
func (a *Agent) Install(ctx context.Context, o Offer) error {
	err := a.install(ctx, o)
	if err != nil {
		code := Code(err, contract.ErrWrite)
		a.logf("REFUSED %s: %v (error %d)", o.Version, err, code)
		a.report(ctx, Event{Type: EventUpdateComplete, Result: ResultError, ErrorCode: code, Reason: err.Error()})
		_ = a.updateState(func(s *State) { s.LastError, s.LastErrorCode, s.LastRefused = err.Error(), code, o.Version })
		return err
	}
	return nil
}

func (a *Agent) install(ctx context.Context, o Offer) error {
	running, err := a.Running()
	if err != nil {
		return err
	}
	p, err := a.verifyOffer(ctx, o, running)
	if err != nil {
		return err
	}
	// Only a release that passed every check on its record is
	// downloaded, as update_engine reports it.
	a.report(ctx, Event{Type: EventDownloadStarted, Result: ResultSuccess})
	seed := &seeder{a: a, running: running}
	defer seed.close()
	for _, kind := range p.kinds() {
		if kind == repo.KindRecord || kind == repo.KindSignature {
			continue
		}
		path, err := a.fetch(ctx, o.Source, p.byKind[kind], seed)
		if err != nil {
			return err
		}
		p.downloaded[kind] = path
	}
	a.report(ctx, Event{Type: EventDownloadFinished, Result: ResultSuccess})
	if err := a.write(p, running); err != nil {
		return err
	}
	a.report(ctx, Event{Type: EventUpdateComplete, Result: ResultSuccess})
	a.cleanDownloads()
	return nil
}

// verifyOffer fetches the record and its signature, verifies them and
// checks the release against the running one and this machine's rules,
// before the large files are fetched.
func (a *Agent) verifyOffer(ctx context.Context, o Offer, running *sign.Record) (*payload, error) {
	files := slices.Clone(o.Files)
	if len(files) < 2 {
		return nil, refuse(contract.ErrUnknownPayload, "offer of %s lists %d files: want a record, its signature and the payload", o.Version, len(files))
	}
	for i, kind := range []string{repo.KindRecord, repo.KindSignature} {
		if files[i].Kind == "" {
			files[i].Kind = kind
		}
	}
	rf, ok := fileOfKind(files, repo.KindRecord)
	if !ok {
		return nil, refuse(contract.ErrUnknownPayload, "offer of %s has no release record", o.Version)
	}
	sf, ok := fileOfKind(files, repo.KindSignature)
	if !ok {
		return nil, refuse(contract.ErrSignature, "offer of %s has no record signature: unsigned releases are not installed", o.Version)
	}
	p := &payload{byKind: map[string]repo.File{}, downloaded: map[string]string{}}
	for _, f := range []repo.File{rf, sf} {
		path, err := a.download(ctx, o.Source, f)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		p.byKind[f.Kind], p.downloaded[f.Kind] = f, path
		if f.Kind == repo.KindRecord {
			p.recRaw = data
		} else {
			p.sigRaw = data
		}
	}
	a.logf("offered %s; checking its signed record", o.Version)
	rec, err := sign.Verify(p.recRaw, p.sigRaw, a.Keys)
	if err != nil {
		return nil, refuse(contract.ErrSignature, "release record of %s: %v", o.Version, err)
	}
	p.rec = rec
	if o.Version != "" && o.Version != rec.Version {
		return nil, refuse(contract.ErrUnknownPayload, "offered as %s, but its signed record says %s", o.Version, rec.Version)
	}
	if err := a.checkRelease(rec, running); err != nil {
		return nil, err
	}
	if err := p.identify(files); err != nil {
		return nil, err
	}
	return p, a.checkFits(rec)
}

func fileOfKind(files []repo.File, kind string) (repo.File, bool) {
	for _, f := range files {
		if f.Kind == kind {
			return f, true
		}
	}
	return repo.File{}, false
}

// checkRelease holds a verified record against the running release, the
// denylist and the pin.
func (a *Agent) checkRelease(rec, running *sign.Record) error {
	switch {
	case rec.Name != running.Name:
		return refuse(contract.ErrName, "release %s %s is of image %q, this machine runs %q", rec.Name, rec.Version, rec.Name, running.Name)
	case rec.Arch != running.Arch:
		return refuse(contract.ErrArch, "release %s is for %s, this machine is %s", rec.Version, rec.Arch, running.Arch)
	case version.Compare(rec.Version, running.Version) <= 0:
		return refuse(contract.ErrNotNewer, "release %s is not newer than the running %s: no downgrades", rec.Version, running.Version)
	case rec.MinVersion != "" && version.Compare(running.Version, rec.MinVersion) < 0:
		return refuse(contract.ErrMinVersion, "release %s updates only from %s or later; this machine runs %s", rec.Version, rec.MinVersion, running.Version)
	case a.Pin != "" && version.Compare(rec.Version, a.Pin) > 0:
		return refuse(contract.ErrPinned, "release %s is past the pinned version %s", rec.Version, a.Pin)
	}
	// Before anything is downloaded: DeriveEntry would refuse them only
	// after the slot is written.
	if err := contract.CheckReleaseArgs(rec.KernelArgs); err != nil {
		return refuse(contract.ErrKernelArgs, "release %s's kernel_args: %v", rec.Version, err)
	}
	deny, err := a.Denylist()
	if err != nil {
		return err
	}
	if slices.Contains(deny, rec.Version) {
		return refuse(contract.ErrDenied, "release %s is on this machine's denylist: its trial boot failed here", rec.Version)
	}
	return nil
}

// identify names each offered file by the record (repo.Vouched): a file
// the record does not vouch for is refused, and the payload must hold
// every file the passive slot needs.
func (p *payload) identify(files []repo.File) error {
	byKind, err := repo.Vouched(p.rec, files, repo.RequireBase)
	if err != nil {
		code := contract.ErrUnknownPayload
		switch {
		case errors.Is(err, repo.ErrWrongSHA256):
			code = contract.ErrSHA256
		case errors.Is(err, repo.ErrUSRSize):
			code = contract.ErrSize
		}
		return refuse(code, "%v", err)
	}
	for kind, f := range byKind {
		p.byKind[kind] = f
	}
	return nil
}

// kinds lists the payload's files in the order they are fetched.
func (p *payload) kinds() []string {
	out := make([]string, 0, len(p.byKind))
	for k := range p.byKind {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkFits refuses a USR larger than the passive partition.
func (a *Agent) checkFits(rec *sign.Record) error {
	e, _, err := a.partition(a.Passive())
	if err != nil {
		return err
	}
	if _, size := a.partitionBytes(e); rec.USRSize > size {
		return refuse(contract.ErrTooBig, "usr of %s is %d bytes, more than USR-%s (%d bytes)", rec.Version, rec.USRSize, strings.ToUpper(a.Passive()), size)
	}
	return nil
}

func (a *Agent) cleanDownloads() {
	_ = os.RemoveAll(a.StateDir + "/" + downloadDir)
}
