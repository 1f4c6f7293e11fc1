package fleetlock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Action is what a history entry records.
type Action string

const (
	ActionGrant   Action = "grant"
	ActionRelease Action = "release"
)

// Event is one grant or release, with the holders after it: enough to
// show afterwards that no more than the group's slots ever held it.
type Event struct {
	Time    time.Time `json:"time"`
	ID      string    `json:"id"`
	Action  Action    `json:"action"`
	Holders []string  `json:"holders"`
}

func historyKey(group string, rev int64) string {
	return fmt.Sprintf("%s%020d", historyDir(group), rev)
}

// History returns group's most recent limit events, oldest first
// (limit <= 0: all of them).
func (s *Semaphore) History(ctx context.Context, group string, limit int) ([]Event, error) {
	if err := checkGroup(group); err != nil {
		return nil, err
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.kv.Get(ctx, historyDir(group), opts...)
	if err != nil {
		return nil, fmt.Errorf("fleetlock: group %s: history: %w", group, err)
	}
	events := make([]Event, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		var ev Event
		if err := json.Unmarshal(kv.Value, &ev); err != nil {
			return nil, fmt.Errorf("fleetlock: group %s: %s: %w", group, kv.Key, err)
		}
		events[len(events)-1-i] = ev
	}
	return events, nil
}

// DefaultHistory is how many history entries a group keeps: a fleet's
// last few hundred reboots, not every one since the cluster began.
const DefaultHistory = 1000

// pruneSlack is how far a history may outgrow its bound before it is
// pruned: one count per change, one delete per pruneSlack changes.
const pruneSlack = 32

// prune deletes group's oldest history entries beyond s.keep.
func (s *Semaphore) prune(ctx context.Context, group string) error {
	dir := historyDir(group)
	n, err := s.kv.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("fleetlock: group %s: history: %w", group, err)
	}
	if n.Count <= int64(s.keep+pruneSlack) {
		return nil
	}
	old, err := s.kv.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(n.Count-int64(s.keep)))
	if err != nil || len(old.Kvs) == 0 {
		return err
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	if _, err := s.kv.Delete(ctx, dir, clientv3.WithRange(last+"\x00")); err != nil {
		return fmt.Errorf("fleetlock: group %s: prune history: %w", group, err)
	}
	return nil
}
