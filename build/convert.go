package build

import (
	"path/filepath"

	"github.com/imgbuild/imgbuild/images/qcow2"
)

// convert writes the disk in the other formats asked for (--qcow2) and
// returns the artifact kinds it added.
func (b *builder) convert(paths map[string]string) ([]string, error) {
	var kinds []string
	if b.opts.QCOW2 {
		paths["qcow2"] = filepath.Join(b.stage, b.m.Name+".qcow2")
		if err := b.report.step("qcow2", func() (string, error) { return "", qcow2.Convert(paths["disk"], paths["qcow2"]) }); err != nil {
			return nil, err
		}
		kinds = append(kinds, "qcow2")
	}
	return kinds, nil
}
