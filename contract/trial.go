package contract

import (
	"os"
	"path/filepath"
)

// Trial boots (docs/updates.md): systemd-boot sets LoaderBootCountPath
// when it boots an entry whose counter it just decreased, that is, while
// the entry still had tries left. Stage-1 and sysinit reboot instead of
// powering off on a fatal error during such a boot, and sysinit reboots
// when the services are not healthy in time, so that systemd-boot counts
// down and falls back. Once no tries are left systemd-boot sets nothing,
// so a machine whose every entry failed stops instead of looping.
const (
	// EfivarsDir is where efivarfs is mounted (stage-1 mounts it).
	EfivarsDir = "/sys/firmware/efi/efivars"
	// LoaderBootCountPathVar is systemd-boot's variable naming the
	// counted entry it booted (vendor GUID of the Boot Loader Interface).
	LoaderBootCountPathVar = "LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
	// DefaultHealthTimeoutMS is how long a trial boot may take to become
	// healthy when the image has no update section.
	DefaultHealthTimeoutMS = 120_000
)

// TrialBoot says whether the running boot is a counted one, from the
// variable in efivarsDir.
func TrialBoot(efivarsDir string) bool {
	_, err := os.Stat(filepath.Join(efivarsDir, LoaderBootCountPathVar))
	return err == nil
}

// TrialFailureReport is the content of TrialFailure: why a trial boot
// gave up, for the agent on the old slot to report.
type TrialFailureReport struct {
	Version string   `json:"version"` // the release on trial
	Slot    string   `json:"slot"`
	Reason  string   `json:"reason"`
	Probe   string   `json:"probe,omitempty"`   // the last failing health check
	Console []string `json:"console,omitempty"` // the last console lines
}
