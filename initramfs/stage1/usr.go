package main

import (
	"fmt"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/initramfs/stage1/dm"
	"github.com/imgbuild/imgbuild/internal/blockdev"
)

// usrMapperName is the device-mapper name of the verified USR.
const usrMapperName = "usr"

// openUSR returns the device to mount as /usr: a dm-verity device over
// the USR partition, set up from the slot's release record on the ESP
// after its signature checked out against the keys in the initramfs.
// Nothing on the command line feeds the verity table.
func openUSR(con *console, usr, esp blockdev.Partition, c contract.Cmdline) (string, error) {
	t, err := loadTrust(contract.KeysDir, contract.AllowUnsignedFile)
	if err != nil {
		return "", fmt.Errorf("trusted keys: %w", err)
	}
	record, sig, err := readRecordFiles(esp.Node, c.Slot)
	if err != nil {
		return "", err
	}
	r, err := verifyRecord(record, sig, t, c.Slot, c.Verity)
	if err != nil {
		return "", err
	}
	if r.keyID == "" {
		con.printf("UNSIGNED image (allowed by the manifest)")
	}
	dev, err := dm.CreateVerity(usrMapperName, usr.Node, r.params)
	if err != nil {
		return "", err
	}
	con.printf("%s", r.describe())
	return dev, nil
}
