package build

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/images/qcow2"
	"github.com/imgbuild/imgbuild/images/vmdk"
)

// convert writes the disk in the formats its target consumes (aws: a
// stream-optimized VMDK and the AMI registration file; pxe: build/pxe.go)
// and those asked
// for (--qcow2), and returns the artifact kinds it added.
func (b *builder) convert(paths map[string]string) ([]string, error) {
	var kinds []string
	if b.opts.QCOW2 {
		paths["qcow2"] = filepath.Join(b.stage, b.m.Name+".qcow2")
		if err := b.report.Step("qcow2", func() (string, error) { return "", qcow2.Convert(paths["disk"], paths["qcow2"]) }); err != nil {
			return nil, err
		}
		kinds = append(kinds, "qcow2")
	}
	if b.opts.Target == "aws" {
		paths["vmdk"] = filepath.Join(b.stage, b.m.Name+".vmdk")
		if err := b.report.Step("vmdk", func() (string, error) { return "stream-optimized", vmdk.Convert(paths["disk"], paths["vmdk"]) }); err != nil {
			return nil, err
		}
		paths["aws"] = filepath.Join(b.stage, b.m.Name+".aws.json")
		if err := b.awsRegistration(paths["aws"], paths["disk"]); err != nil {
			return nil, err
		}
		kinds = append(kinds, "vmdk", "aws")
	}
	if b.opts.Target == "pxe" {
		more, err := b.pxe(paths)
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, more...)
	}
	return kinds, nil
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
