package fleetlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is where every group's keys live in etcd.
const Prefix = "/imgbuild/fleetlock/"

// DefaultSlots is how many machines of a group not named in the
// configuration may reboot at once.
const DefaultSlots = 1

// maxAttempts bounds the compare-and-swap retries: each failed attempt
// means another server changed the group, so a machine never spins for
// long unless something is badly wrong.
const maxAttempts = 64

// State is a group's semaphore, stored as JSON in the shape airlock
// keeps (total_slots, holders), holders sorted.
type State struct {
	TotalSlots int      `json:"total_slots"`
	Holders    []string `json:"holders"`
}

// Holds reports whether id holds a slot.
func (s State) Holds(id string) bool { return slices.Contains(s.Holders, id) }

// FullError is a refused Lock: every slot is held by someone else.
type FullError struct {
	Group   string
	Slots   int
	Holders []string
}

func (e *FullError) Error() string {
	return fmt.Sprintf("fleetlock: group %s: all %d slots held (by %s)", e.Group, e.Slots, strings.Join(e.Holders, ", "))
}

// NotHeldError is a refused Release: id holds no slot.
type NotHeldError struct {
	Group   string
	ID      string
	Holders []string
}

func (e *NotHeldError) Error() string {
	held := "nobody"
	if len(e.Holders) > 0 {
		held = strings.Join(e.Holders, ", ")
	}
	return fmt.Sprintf("fleetlock: group %s: %s holds no slot (held by %s)", e.Group, e.ID, held)
}

// Semaphore is the reboot lock of every group, kept in etcd.
type Semaphore struct {
	kv    clientv3.KV
	slots map[string]int
	now   func() time.Time
	// keep is how many history entries a group keeps (DefaultHistory).
	keep int
}

// New returns a Semaphore over kv (a *clientv3.Client). slots gives
// groups their slot count; any other group has DefaultSlots and is
// created on first use.
func New(kv clientv3.KV, slots map[string]int) *Semaphore {
	return &Semaphore{kv: kv, slots: maps.Clone(slots), now: time.Now, keep: DefaultHistory}
}

// Slots is how many holders group may have at once.
func (s *Semaphore) Slots(group string) int {
	if n, ok := s.slots[group]; ok {
		return n
	}
	return DefaultSlots
}

func semKey(group string) string     { return Prefix + group + "/semaphore" }
func historyDir(group string) string { return Prefix + group + "/history/" }

// Lock gives id a slot of group. It is idempotent: a holder asking again
// is granted without a change (granted false). A full group is refused
// with a *FullError naming the holders.
func (s *Semaphore) Lock(ctx context.Context, group, id string) (st State, granted bool, err error) {
	err = s.update(ctx, group, id, ActionGrant, func(st *State) (bool, error) {
		// The configuration wins over what is stored, so changing
		// FLEETLOCK_SLOTS takes effect at the next request.
		st.TotalSlots = s.Slots(group)
		if st.Holds(id) {
			return false, nil
		}
		if len(st.Holders) >= st.TotalSlots {
			return false, &FullError{Group: group, Slots: st.TotalSlots, Holders: slices.Clone(st.Holders)}
		}
		st.Holders = append(st.Holders, id)
		slices.Sort(st.Holders)
		return true, nil
	}, &st, &granted)
	return st, granted, err
}

// Unlock releases id's slot of group. It is idempotent: a non-holder is
// no error (released false), as a machine reports steady-state after
// every boot whether it took the lock or not.
func (s *Semaphore) Unlock(ctx context.Context, group, id string) (st State, released bool, err error) {
	err = s.update(ctx, group, id, ActionRelease, release(id), &st, &released)
	return st, released, err
}

// Release is Unlock for an operator: releasing an id that holds no slot
// is a *NotHeldError naming the holders, never silent, since a typo
// would otherwise leave the real holder in place.
func (s *Semaphore) Release(ctx context.Context, group, id string) (before, after State, err error) {
	var released bool
	err = s.update(ctx, group, id, ActionRelease, func(st *State) (bool, error) {
		before = State{TotalSlots: st.TotalSlots, Holders: slices.Clone(st.Holders)}
		if !st.Holds(id) {
			return false, &NotHeldError{Group: group, ID: id, Holders: slices.Clone(st.Holders)}
		}
		return release(id)(st)
	}, &after, &released)
	return before, after, err
}

func release(id string) func(*State) (bool, error) {
	return func(st *State) (bool, error) {
		i := slices.Index(st.Holders, id)
		if i < 0 {
			return false, nil
		}
		st.Holders = slices.Delete(st.Holders, i, i+1)
		return true, nil
	}
}

// Get reads group's semaphore; a group never used reads as empty with
// its configured slots.
func (s *Semaphore) Get(ctx context.Context, group string) (State, error) {
	if err := checkGroup(group); err != nil {
		return State{}, err
	}
	st, _, err := s.read(ctx, group)
	if err != nil {
		return State{}, fmt.Errorf("fleetlock: group %s: %w", group, err)
	}
	return st, nil
}

// read returns the stored state and the ModRevision to compare against
// (0: no key yet).
func (s *Semaphore) read(ctx context.Context, group string) (State, int64, error) {
	resp, err := s.kv.Get(ctx, semKey(group))
	if err != nil {
		return State{}, 0, err
	}
	st := State{TotalSlots: s.Slots(group), Holders: []string{}}
	if len(resp.Kvs) == 0 {
		return st, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return State{}, 0, fmt.Errorf("%s: %w", semKey(group), err)
	}
	if st.Holders == nil {
		st.Holders = []string{}
	}
	return st, resp.Kvs[0].ModRevision, nil
}

// update applies change to group's semaphore with a compare-and-swap on
// its ModRevision, retrying on conflict. When change reports a change,
// the new semaphore and a history entry are written in one transaction.
func (s *Semaphore) update(ctx context.Context, group, id string, action Action, change func(*State) (bool, error), out *State, changed *bool) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("fleetlock: group %s: empty id", group)
	}
	for range maxAttempts {
		st, rev, err := s.read(ctx, group)
		if err != nil {
			return fmt.Errorf("fleetlock: group %s: %w", group, err)
		}
		ok, err := change(&st)
		*out = st
		if err != nil || !ok {
			return err
		}
		val, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("fleetlock: group %s: %w", group, err)
		}
		ev, err := json.Marshal(Event{Time: s.now().UTC(), ID: id, Action: action, Holders: st.Holders})
		if err != nil {
			return fmt.Errorf("fleetlock: group %s: %w", group, err)
		}
		// The revision compared against is unique to this change (only
		// one transaction can succeed from it) and grows with every
		// change, so it names the history entry and orders it.
		cmp := clientv3.Compare(clientv3.ModRevision(semKey(group)), "=", rev)
		resp, err := s.kv.Txn(ctx).If(cmp).Then(
			clientv3.OpPut(semKey(group), string(val)),
			clientv3.OpPut(historyKey(group, rev), string(ev)),
		).Commit()
		if err != nil {
			return fmt.Errorf("fleetlock: group %s: %w", group, err)
		}
		if resp.Succeeded {
			*changed = true
			// The change stands; a history not pruned now is pruned at
			// the next one.
			_ = s.prune(ctx, group)
			return nil
		}
	}
	return fmt.Errorf("fleetlock: group %s: %w", group, ErrContention)
}

// ErrContention is an update that lost every compare-and-swap it tried.
var ErrContention = errors.New("semaphore changed under every attempt")

func checkGroup(group string) error {
	// A slash would let one group's keys fall under another's prefix.
	if group == "" || strings.ContainsAny(group, "/\x00") {
		return fmt.Errorf("fleetlock: group %q: must be non-empty, without '/'", group)
	}
	return nil
}

// Ping reports whether etcd answers a read.
func (s *Semaphore) Ping(ctx context.Context) error {
	if _, err := s.kv.Get(ctx, Prefix, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("fleetlock: etcd: %w", err)
	}
	return nil
}
