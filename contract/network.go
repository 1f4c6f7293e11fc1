package contract

// NetworkDir holds the machine's systemd-networkd .network files on
// ROOT, usually written there by its per-machine config; sysinit applies
// them on every boot (docs/config.md, "Network files").
const NetworkDir = "/etc/systemd/network"

// Console banners: a problem an operator must see stands between two
// BannerRule lines, each line starting SysinitMarker.
const (
	BannerRule = "=================================================================="
	// NetworkRefusedLine starts the banner's title when the .network
	// files were refused or could not be applied: none of them is, and
	// the first NIC runs DHCP.
	NetworkRefusedLine = SysinitMarker + "NETWORK CONFIG REFUSED"
)
