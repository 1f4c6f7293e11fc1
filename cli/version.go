package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/images/squashfs"
)

// Version is set at link time (-ldflags "-X .../cli.Version=v1.2.3").
var Version = "dev"

func newVersion(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print imgbuild's version, its Go toolchain, its USR encoders and whether the on-image programs are embedded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := Version
			if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
				v = info.Main.Version
			}
			fmt.Fprintf(env.Stdout, "imgbuild %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(env.Stdout, "USR encoders: zstd %s; xz %s\n", squashfs.Encoder(squashfs.ZSTD), squashfs.Encoder(squashfs.XZ))
			own, err := ownbin.Embedded()
			if err != nil {
				return err
			}
			if own == nil {
				fmt.Fprintln(env.Stdout, "on-image programs: not embedded (built from imgbuild's source tree, with go, at build time)")
				return nil
			}
			fmt.Fprintf(env.Stdout, "on-image programs: embedded (%s, %s, sha256 %s)\n", strings.Join(programNames(), ", "), own.Toolchain, own.Digest)
			return nil
		},
	}
}

func programNames() []string {
	names := make([]string, len(ownbin.Programs))
	for i, p := range ownbin.Programs {
		names[i] = p.Name
	}
	return names
}
