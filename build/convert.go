package build

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/images/qcow2"
	"github.com/imgbuild/imgbuild/images/vmdk"
)

// converted are the staged other formats of the disk; "" where not made.
type converted struct {
	qcow2, vmdk, aws string
}

// convert writes the disk in the formats its target consumes (aws: a
// stream-optimized VMDK and the AMI registration file; pxe's are
// build/pxe.go's) and those asked for (--qcow2).
func (b *builder) convert(dk diskOut) (converted, error) {
	var c converted
	if b.opts.QCOW2 {
		c.qcow2 = b.staged(".qcow2")
		if err := b.report.Step("qcow2", func() (string, error) { return "", qcow2.Convert(dk.path, c.qcow2) }); err != nil {
			return converted{}, err
		}
	}
	if b.opts.Target == "aws" {
		c.vmdk = b.staged(".vmdk")
		if err := b.report.Step("vmdk", func() (string, error) { return "stream-optimized", vmdk.Convert(dk.path, c.vmdk) }); err != nil {
			return converted{}, err
		}
		c.aws = b.staged(".aws.json")
		if err := b.awsRegistration(c.aws, dk.path); err != nil {
			return converted{}, err
		}
	}
	return c, nil
}

func (b *builder) awsRegistration(path, disk string) error {
	st, err := os.Stat(disk)
	if err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	r := output.AWSRegistration{
		Name: b.m.Name + "-" + b.m.Version, Description: fmt.Sprintf("%s %s (imgbuild)", b.m.Name, b.m.Version),
		Architecture: "x86_64", BootMode: "uefi", EnaSupport: true, ImdsSupport: "v2.0",
		RootDeviceName: "/dev/xvda", VirtualizationType: "hvm",
		VolumeSizeGiB: (st.Size() + 1<<30 - 1) >> 30,
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("aws: registration: %w", err)
	}
	return nil
}
