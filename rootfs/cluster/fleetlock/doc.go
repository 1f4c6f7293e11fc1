// Package fleetlock is a FleetLock server (the reboot-lock protocol of
// Fedora CoreOS's Zincati, as coreos/airlock serves it) whose semaphore
// lives in etcd. Every cluster machine runs one against its local etcd,
// so any member answers for the whole cluster and a restarted server
// loses no lock: the only state is in etcd.
//
// Keys (docs/cluster.md):
//
//	/imgbuild/fleetlock/<group>/semaphore          {"total_slots": N, "holders": [...]}
//	/imgbuild/fleetlock/<group>/history/<seq>      {"time", "id", "action", "holders"}
//
// Every change is one etcd transaction comparing the semaphore's
// ModRevision, which writes the new semaphore and its history entry
// together; a conflict re-reads and tries again.
package fleetlock
