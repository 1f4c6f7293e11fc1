package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"
)

// maxEvents bounds the events kept per machine; the newest are kept.
const maxEvents = 50

// Event is one Omaha event a machine reported.
type Event struct {
	Time            time.Time `json:"time"`
	Type            int       `json:"type"`
	Result          int       `json:"result"`
	ErrorCode       int       `json:"error_code,omitempty"`
	PreviousVersion string    `json:"previous_version,omitempty"`
	Version         string    `json:"version"` // what the machine ran when it reported
	Meaning         string    `json:"meaning"`
	// Reason is the machine's words for an error (contract.OmahaReasonAttr).
	Reason string `json:"reason,omitempty"`
	// RolledBack is, with a rollback, the version whose trial failed
	// (contract.OmahaRolledBackAttr).
	RolledBack string `json:"rolled_back,omitempty"`
}

// Machine is what the server knows of one machine.
type Machine struct {
	ID        string    `json:"machine_id"`
	AppID     string    `json:"app_id"`
	Version   string    `json:"version"`
	Channel   string    `json:"channel"`
	BootID    string    `json:"boot_id,omitempty"`
	LastSeen  time.Time `json:"last_seen"`
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastEvent is the newest event; LastError the newest with result 0.
	LastEvent *Event  `json:"last_event,omitempty"`
	LastError *Event  `json:"last_error,omitempty"`
	Events    []Event `json:"events,omitempty"`
	// Offered is the version the last update answer offered; Held why
	// the last check was answered noupdate instead.
	Offered string `json:"offered,omitempty"`
	Held    string `json:"held,omitempty"`
}

// Machines is the machines' reports, in memory and in a JSON file
// rewritten (fsutil.Write) before a report is answered. Rewrites are
// group commits: a report waits for one write that holds it, and one
// write holds every report applied before it began, so a thousand
// machines checking at once cost a few rewrites, not a thousand.
type Machines struct {
	path string
	mu   sync.Mutex // guards byID, gen and saved
	byID map[string]*Machine
	// gen counts changes; saved is the newest gen on disk.
	gen, saved uint64
	writes     int        // rewrites done (tests)
	writing    sync.Mutex // one rewrite at a time
}

// OpenMachines loads the file at path; a missing file is no machines.
func OpenMachines(path string) (*Machines, error) {
	m := &Machines{path: path, byID: map[string]*Machine{}}
	list, err := ReadMachines(path)
	if err != nil {
		return nil, err
	}
	for _, mc := range list {
		m.byID[mc.ID] = mc
	}
	return m, nil
}

// ReadMachines reads a machines file, sorted by machine id.
func ReadMachines(path string) ([]*Machine, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("serve: machines: %w", err)
	}
	var list []*Machine
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("serve: machines: %s: %w", path, err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, nil
}

// report is one app element of an Omaha request, as far as it concerns
// the machine's record.
type report struct {
	machine, appID, version, channel, bootID string
	check                                    bool
	events                                   []Event
}

// Record applies a report and saves the file.
func (m *Machines) Record(r report, now time.Time) error {
	if r.machine == "" {
		return nil // nothing to key it by
	}
	m.mu.Lock()
	mc := m.byID[r.machine]
	if mc == nil {
		mc = &Machine{ID: r.machine}
		m.byID[r.machine] = mc
	}
	mc.AppID, mc.Version, mc.Channel, mc.BootID, mc.LastSeen = r.appID, r.version, r.channel, r.bootID, now.UTC()
	if r.check {
		mc.LastCheck = now.UTC()
	}
	for _, e := range r.events {
		e.Time = now.UTC()
		mc.Events = append(mc.Events, e)
		ev := e
		mc.LastEvent = &ev
		if e.Result == 0 {
			mc.LastError = &ev
		}
	}
	if len(mc.Events) > maxEvents {
		mc.Events = append([]Event(nil), mc.Events[len(mc.Events)-maxEvents:]...)
	}
	m.gen++
	gen := m.gen
	m.mu.Unlock()
	return m.commit(gen)
}

// Get is a copy of one machine's record.
func (m *Machines) Get(id string) (Machine, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.byID[id]
	if mc == nil {
		return Machine{}, false
	}
	c := *mc
	c.Events = append([]Event(nil), mc.Events...)
	return c, true
}

// Answered records what an update check was answered: the version
// offered, or why none was.
func (m *Machines) Answered(id, offered, held string) error {
	m.mu.Lock()
	mc := m.byID[id]
	if mc == nil {
		m.mu.Unlock()
		return nil
	}
	if offered != "" {
		mc.Offered = offered
	}
	mc.Held = held
	m.gen++
	gen := m.gen
	m.mu.Unlock()
	return m.commit(gen)
}

// List is a copy of every machine, sorted by machine id.
func (m *Machines) List() []Machine {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Machine, 0, len(m.byID))
	for _, mc := range m.byID {
		c := *mc
		c.Events = append([]Event(nil), mc.Events...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// commit returns once change gen is on disk: written by this call, or
// by one that began after gen was applied (a failed write leaves it to
// the next caller).
func (m *Machines) commit(gen uint64) error {
	m.writing.Lock()
	defer m.writing.Unlock()
	m.mu.Lock()
	if m.saved >= gen {
		m.mu.Unlock()
		return nil
	}
	list := make([]*Machine, 0, len(m.byID))
	for _, mc := range m.byID {
		list = append(list, mc)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	data, err := json.MarshalIndent(list, "", "  ")
	upTo := m.gen
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("serve: machines: %w", err)
	}
	if err := saveState(m.path, append(data, '\n')); err != nil {
		return err
	}
	m.mu.Lock()
	m.saved = upTo
	m.writes++
	m.mu.Unlock()
	return nil
}
