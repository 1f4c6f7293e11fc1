package contract

import (
	"crypto/sha256"
	"fmt"
)

// Update state on ROOT, kept by the update agent and by sysinit's trial
// boot watchdog (docs/updates.md).
const (
	// MachineID is 32 hex digits made on first boot: the machine's
	// identity towards an update server (Omaha's machineid).
	MachineID = "/var/lib/imgbuild/machine-id"
	// UpdateStateDir holds the agent's status.json, denylist and the
	// reason a trial boot was abandoned (trial-failure.json).
	UpdateStateDir = "/var/lib/imgbuild/update"
	// TrialFailure is written before a trial boot gives up and reboots:
	// why (failed probe, last console lines), for the old slot's agent
	// to report.
	TrialFailure = UpdateStateDir + "/trial-failure.json"
	// AgentPath is the update agent on USR.
	AgentPath = "/usr/lib/imgbuild/imgbuild-agent"
)

// Omaha error codes the agent reports in event type 3, result 0
// (docs/updates.md). Servers show them; the numbers are ours.
const (
	ErrDownload       = 10 // a payload file could not be fetched
	ErrSize           = 11 // a file's size differs from what was announced
	ErrSHA256         = 12 // a file's sha256 differs from the signed one
	ErrSignature      = 13 // record or channel signature invalid
	ErrName           = 14 // release of another image
	ErrArch           = 15 // release for another architecture
	ErrNotNewer       = 16 // not newer than the running version (no downgrades)
	ErrDenied         = 17 // version on the local denylist
	ErrTooBig         = 18 // USR payload larger than the passive partition
	ErrMinVersion     = 19 // the release's min_version is above the running version
	ErrWrite          = 20 // writing or reading back the passive slot failed
	ErrRollback       = 44 // the new release's trial boots failed; back on the old slot
	ErrPinned         = 45 // the version pin forbids this version
	ErrUnknownPayload = 46 // a payload file the record does not vouch for
	ErrKernelArgs     = 47 // the record's kernel_args set a key that names a slot
)

// OmahaAppID is the Omaha application id of an image: a GUID derived
// from its name, so one server (imgbuild serve, Nebraska) can serve
// several images, and every version of one image shares the id.
func OmahaAppID(name string) string {
	s := sha256.Sum256([]byte("imgbuild-omaha-app\x00" + name))
	b := s[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("{%x-%x-%x-%x-%x}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
