// Package contract is the agreement between the builder, the booted
// system and the update side: every name two of them use is spelled here
// once, and docs/layout.md and docs/updates.md describe the same contract
// for humans. By file:
//
//   - partitions.go: the CoreOS partition table (numbers, GPT names, type
//     GUIDs) and the USR slots' GPT attribute bits;
//   - esp.go, files.go: paths on the ESP (boot entries, each slot's
//     kernel, initramfs or UKI, release record), in the initramfs and on
//     USR; the directories of trusted keys;
//   - cmdline.go: kernel command-line keys and the options line of a slot's
//     boot entry;
//   - pxe.go: the diskless boot and the PXE installer's keys and files;
//   - config.go: the runtime configuration a build writes into USR and
//     sysinit reads;
//   - machine.go, platform.go: per-machine state on ROOT (Ignition, SSH
//     keys, instance metadata);
//   - trial.go, update.go, omahareason.go: trial boots, the update
//     agent's state on ROOT, the Omaha app id, error codes and reason
//     attribute the agent and `imgbuild serve` share;
//   - register.go: a service's DNS registration, the state files sysinit
//     publishes for the registrar, the cluster domain's SkyDNS keys;
//   - timing.go and the console markers: the lines host tools (imgbuild
//     run, inspect, verify, the boot timeline, the tests) recognise.
//
// It imports only the standard library, so that stage-1 and sysinit
// carry it: a shared leaf (README, "How it is built").
package contract
