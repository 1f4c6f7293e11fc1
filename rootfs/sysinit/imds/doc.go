// Package imds reads EC2's instance metadata service the IMDSv2 way: a
// PUT for a session token, then GETs carrying it. It reads what a
// machine needs to become itself on its first boot (hostname, the SSH
// public keys of its key pair, user-data) and applies the hostname and
// keys once, as the per-machine config is applied once.
//
// The service may be slow to answer right after boot or not there at
// all; every request is retried a bounded number of times with backoff,
// and a failure is an error for the caller to report, never a reason to
// stop the boot.
package imds
