package cli

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/sparse"
)

// oemPartition is the OEM partition's number (docs/layout.md).
const oemPartition = 6

func newOEM(env Env) *cobra.Command {
	var config, out string
	cmd := &cobra.Command{
		Use:   "oem IMAGE --config FILE -o OUT",
		Short: "Copy an image with a per-machine config on its OEM partition",
		Long: `Oem writes a copy of IMAGE to OUT whose OEM partition (6) holds a FAT
file system labelled OEM with the config as config.ign, for machines with
no fw_cfg and no metadata service. The config is validated first. IMAGE is
not changed; OUT is written to a temporary file and renamed. The machine
applies the config on its first boot (docs/config.md).`,
		Example: `  imgbuild oem out/minimal.img --config node1.ign -o out/node1.img`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("oem takes one image path")}
			}
			if config == "" || out == "" {
				return usageError{fmt.Errorf("oem needs --config FILE and -o OUT")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := writeOEMImage(args[0], config, out); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s (config %s on its OEM partition)\n", out, config)
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "per-machine config (Ignition spec v3 JSON)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "the image to write")
	return cmd
}

func writeOEMImage(image, config, out string) error {
	raw, err := readConfig(config)
	if err != nil {
		return err
	}
	info, err := disk.Read(image)
	if err != nil {
		return err
	}
	p, ok := info.Partition(oemPartition)
	if !ok || p.Label != contract.OEMLabel {
		return fmt.Errorf("%s: no OEM partition (number %d, label %s)", image, oemPartition, contract.OEMLabel)
	}
	sum := sha256.Sum256(raw)
	files := []fat.File{{Path: contract.OEMConfig, Data: raw}}
	err = fsutil.Write(out, 0o600, func(f *os.File) error {
		if err := sparse.Copy(f, image); err != nil {
			return err
		}
		// Zero the partition first: a FAT written over an old one must not
		// leave the old one's clusters readable.
		if err := zeroRange(f, p.Start, p.Size); err != nil {
			return err
		}
		// Volume ID from the config and a fixed time: the same image and
		// config give the same bytes.
		w := io.NewOffsetWriter(f, p.Start)
		if err := fat.WriteFAT16(w, p.Size, files, binary.LittleEndian.Uint32(sum[:]), contract.OEMLabel, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return fmt.Errorf("OEM partition of %s: %w", image, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	copyRunSettings(image, out)
	return nil
}

// copyRunSettings copies IMAGE's NAME.json (run settings) beside OUT, so
// imgbuild run OUT forwards the same ports; an image without one is fine.
func copyRunSettings(image, out string) {
	src := strings.TrimSuffix(image, filepath.Ext(image)) + ".json"
	dst := strings.TrimSuffix(out, filepath.Ext(out)) + ".json"
	b, err := os.ReadFile(src)
	if err != nil || src == dst {
		return
	}
	_ = fsutil.WriteFile(dst, b, 0o644)
}

func zeroRange(f *os.File, off, size int64) error {
	zero := make([]byte, 1<<20)
	for done := int64(0); done < size; {
		n := min(int64(len(zero)), size-done)
		if _, err := f.WriteAt(zero[:n], off+done); err != nil {
			return err
		}
		done += n
	}
	return nil
}
