package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
)

// slotState is what the ESP's boot entries say of a slot.
type slotState struct {
	Entry   string // file name, "" when the slot has none
	Good    bool   // marked good: an entry without a counter
	Left    int    // tries left of a counted entry
	Dead    bool   // counted entry with no tries left: systemd-boot passes it over
	Version string // from the entry's version line
}

func (a *Agent) slotState(slot string) (slotState, error) {
	es, err := slotEntries(a.ESP, slot)
	if err != nil || len(es) == 0 {
		return slotState{}, err
	}
	e := es[0]
	st := slotState{Entry: e.File, Good: !e.Name.Counting, Left: e.Name.Left,
		Dead:    e.Name.Counting && e.Name.Left == 0,
		Version: entryVersion(filepath.Join(a.ESP, filepath.FromSlash(contract.EntriesDir), e.File))}
	return st, nil
}

// ErrTrial means the booted slot is on trial: nothing is installed
// until sysinit marks it good (or it rolls back).
var ErrTrial = errors.New("agent: this boot is a trial of a new release, not yet marked good")

// Reconcile settles what the last boots did, once per start and before
// every check: it reports a marked-good update (3/2) or a rollback
// (3/0, code 44, with the failed trial's reason), puts a rolled-back
// version on the denylist, removes its dead entry so it can never boot
// again, and brings the GPT bits in line. It returns ErrTrial while the
// booted slot is still counting.
func (a *Agent) Reconcile(ctx context.Context) error {
	booted, err := a.slotState(a.Slot)
	if err != nil {
		return err
	}
	if booted.Entry != "" && !booted.Good {
		return ErrTrial
	}
	running, err := a.Running()
	if err != nil {
		return err
	}
	other, err := a.slotState(a.Passive())
	if err != nil {
		return err
	}
	st, err := a.loadState()
	if err != nil {
		return err
	}
	a.sendUnsent(ctx, &st)
	if other.Dead {
		if err := a.rolledBack(ctx, other, &st); err != nil {
			return err
		}
	}
	if in := st.Installed; in != nil && in.Slot == a.Slot && in.Version == running.Version {
		a.logf("%s is marked good (updated from %s)", running.Version, in.Previous)
		a.reportOutcome(ctx, &st, Event{Type: EventUpdateComplete, Result: ResultSuccessReboot, Previous: in.Previous})
		st.Installed = nil
	}
	if err := a.saveState(st); err != nil {
		return err
	}
	return a.syncAttributes()
}

// rolledBack handles a passive slot whose trial boots ran out of tries.
func (a *Agent) rolledBack(ctx context.Context, dead slotState, st *State) error {
	reason := trialReason(a.TrialFailure)
	ver := dead.Version
	if ver == "" && st.Installed != nil {
		ver = st.Installed.Version
	}
	msg := fmt.Sprintf("rolled back from %s to slot %s: %s", ver, strings.ToUpper(a.Slot), reason)
	a.logf("ROLLBACK: %s; %s is denied from now on", msg, ver)
	a.reportOutcome(ctx, st, Event{Type: EventUpdateComplete, Result: ResultError, ErrorCode: contract.ErrRollback, Reason: msg, RolledBack: ver})
	if ver != "" {
		if err := a.deny(ver); err != nil {
			return err
		}
	}
	if err := a.removeEntries(a.Passive(), nil); err != nil {
		return fmt.Errorf("agent: remove dead entry %s: %w", dead.Entry, err)
	}
	if a.TrialFailure != "" {
		if err := os.Remove(a.TrialFailure); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("agent: %w", err)
		}
	}
	st.Installed = nil
	st.LastError, st.LastErrorCode = msg, contract.ErrRollback
	return nil
}

// syncAttributes writes the GPT attribute bits of both USR partitions
// from the boot entries, which are what systemd-boot acts on: a slot on
// trial gets priority 2 and its tries, the booted good slot priority 2
// (1 while another is on trial), a slot without a bootable entry 0.
func (a *Agent) syncAttributes() error {
	want := map[int]uint64{}
	trial := ""
	states := map[string]slotState{}
	for _, s := range contract.Slots {
		st, err := a.slotState(s)
		if err != nil {
			return err
		}
		states[s] = st
		if st.Entry != "" && !st.Good && !st.Dead {
			trial = s
		}
	}
	_, table, err := a.partition(a.Slot)
	if err != nil {
		return err
	}
	changed := false
	for _, s := range contract.Slots {
		st := states[s]
		var attr uint64
		switch {
		case s == trial:
			attr = contract.USRAttributes(2, st.Left, false)
		case st.Good && trial == "":
			if s == a.Slot {
				attr = contract.USRAttributes(2, 0, true)
			} else {
				attr = contract.USRAttributes(1, 0, true)
			}
		case st.Good:
			attr = contract.USRAttributes(1, 0, true)
		}
		p, _ := contract.USR(s)
		want[p.Number] = attr
		for _, e := range table.Entries() {
			if e.Number == p.Number && e.Attributes != attr {
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	disk, err := os.OpenFile(a.Disk, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer disk.Close()
	if err := table.SetAttributes(disk, want); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return disk.Sync()
}

// otherVersion is the release recorded in the passive slot, if any.
func (a *Agent) otherVersion() string {
	raw, err := os.ReadFile(filepath.Join(a.ESP, filepath.FromSlash(contract.RecordPath(a.Passive()))))
	if err != nil {
		return ""
	}
	rec, err := sign.ParseRecord(raw)
	if err != nil {
		return ""
	}
	return rec.Version
}

// trialReason reads what the failed trial boot left on ROOT; stage-1
// failures leave nothing (ROOT is not mounted yet).
func trialReason(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return "its trial boots failed before sysinit could say why (stage-1, or a power cut)"
	}
	var r contract.TrialFailureReport
	if json.Unmarshal(data, &r) != nil || r.Reason == "" {
		return strings.TrimSpace(string(data))
	}
	if r.Probe != "" {
		return r.Reason + "; last failing probe: " + r.Probe
	}
	return r.Reason
}
