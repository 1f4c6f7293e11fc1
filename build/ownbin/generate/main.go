// Command generate builds imgbuild's on-image programs (ownbin.Programs)
// into build/ownbin/programs, which a build with -tags imgbuild_embed
// embeds. make runs it from the module root before building imgbuild:
//
//	go run ./build/ownbin/generate
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/build/gobuild"
	"github.com/imgbuild/imgbuild/build/ownbin"
)

func main() {
	src := flag.String("src", ".", "imgbuild's module root")
	out := flag.String("o", filepath.Join("build", "ownbin", ownbin.Dir), "output directory (replaced whole)")
	flag.Parse()
	if err := generate(context.Background(), *src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

// generate builds every program into a temporary directory beside out
// and renames it into place, so a failed run leaves the old set whole.
func generate(ctx context.Context, src, out string) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	tc, err := gobuild.Toolchain(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".programs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, p := range ownbin.Programs {
		if err := gobuild.Own(ctx, src, ownbin.Arch, p.Package, filepath.Join(tmp, p.Name)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ownbin.ToolchainFile), []byte(tc+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
