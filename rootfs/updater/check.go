package updater

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

// IsOmaha says whether an update.server URL is an Omaha endpoint (imgbuild
// serve's and Nebraska's /v1/update/) rather than a static repository.
func IsOmaha(server string) bool {
	u, err := url.Parse(server)
	return err == nil && strings.Contains(u.Path, "/v1/update")
}

// StaticOffer reads a repository's signed channel metadata and returns
// what it offers. A metadata signature that fails is a refusal
// (contract.ErrSignature); a repository out of reach, a download error.
func (a *Agent) StaticOffer(ctx context.Context, src Source, channel string) (Offer, error) {
	c, err := repo.ReadChannelContext(ctx, src.repo(), channel, a.Keys)
	if err != nil {
		if errors.Is(err, sign.ErrUnverified) {
			return Offer{}, refuse(contract.ErrSignature, "%v", err)
		}
		return Offer{}, refuse(contract.ErrDownload, "%v", err)
	}
	return Offer{Version: c.Version, Source: src, Files: c.Files}, nil
}

// LocalSource turns imgbuild-agent install's argument into a source and
// a channel: a repository directory or URL (channel from the
// configuration), or a channel file inside one (channels/<ch>.json).
func LocalSource(arg, channel string) (Source, string, error) {
	if u, err := url.Parse(arg); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if strings.HasSuffix(u.Path, ".json") {
			ch := strings.TrimSuffix(path.Base(u.Path), ".json")
			u.Path = path.Dir(path.Dir(u.Path)) + "/"
			return Source{URL: u.String()}, ch, nil
		}
		return Source{URL: arg}, channel, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return Source{}, "", fmt.Errorf("agent: %s: %w", arg, err)
	}
	if strings.HasSuffix(abs, ".json") {
		if filepath.Base(filepath.Dir(abs)) != "channels" {
			return Source{}, "", fmt.Errorf("agent: %s: a channel file lives in a repository's channels/ directory", arg)
		}
		return Source{Dir: filepath.Dir(filepath.Dir(abs))}, strings.TrimSuffix(filepath.Base(abs), ".json"), nil
	}
	return Source{Dir: abs}, channel, nil
}

// CheckStatic asks a static repository for the channel's release and
// installs it when newer; it records the check in the state. installed
// is true when the passive slot holds the offered release and the
// reboot into it is due: written by this check, or earlier in this boot.
func (a *Agent) CheckStatic(ctx context.Context, src Source, channel string) (installed bool, err error) {
	if err := a.Reconcile(ctx); err != nil {
		return false, err
	}
	a.logf("checking channel %s of %s", channel, src)
	o, err := a.StaticOffer(ctx, src, channel)
	_ = a.updateState(func(s *State) {
		s.LastCheck = now()
		if err == nil {
			s.LastOffered = o.Version
		}
	})
	if err != nil {
		return false, a.failed(ctx, err)
	}
	return a.consider(ctx, o)
}

// consider installs an offer unless this machine already has it or
// should quietly skip it (same version, or the one waiting for its boot).
func (a *Agent) consider(ctx context.Context, o Offer) (bool, error) {
	running, err := a.Running()
	if err != nil {
		return false, err
	}
	st, err := a.loadState()
	if err != nil {
		return false, err
	}
	if o.Version == running.Version {
		return false, a.updateState(func(s *State) { s.LastError, s.LastErrorCode = "", 0 })
	}
	if in := st.Installed; in != nil && in.Version == o.Version && in.Slot == a.Passive() {
		// Written already. In the boot that wrote it the reboot is
		// still due: an agent that died before it (a reboot lock it
		// could not take, a crash) must not leave the machine on the
		// old release for good. After a reboot that came back to this
		// slot, rebooting again would loop.
		due := in.BootID != "" && in.BootID == a.BootID
		if due {
			a.logf("%s is installed into slot %s and waits for its reboot", in.Version, in.Slot)
		}
		return due, nil
	}
	if st.LastRefused == o.Version && final(st.LastErrorCode) {
		return false, nil // refused already, and it would be again
	}
	if err := a.Install(ctx, o); err != nil {
		return false, err
	}
	return true, nil
}

// failed records a check that found no usable offer; a refusal (a
// channel signature that does not verify) is reported like any other.
func (a *Agent) failed(ctx context.Context, err error) error {
	code := Code(err, contract.ErrDownload)
	a.logf("update check failed: %v (error %d)", err, code)
	var r *Refusal
	if errors.As(err, &r) {
		a.report(ctx, Event{Type: EventUpdateComplete, Result: ResultError, ErrorCode: code, Reason: err.Error()})
	}
	_ = a.updateState(func(s *State) { s.LastError, s.LastErrorCode = err.Error(), code })
	return err
}

// final says whether a refusal stands however often the same release is
// offered: unlike a broken download, these come from the signed record
// or this machine's own rules.
func final(code int) bool {
	switch code {
	case contract.ErrName, contract.ErrArch, contract.ErrNotNewer, contract.ErrDenied, contract.ErrTooBig,
		contract.ErrMinVersion, contract.ErrPinned, contract.ErrUnknownPayload, contract.ErrKernelArgs:
		return true
	}
	return false
}
