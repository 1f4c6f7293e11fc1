// Command imgbuild builds minimal, CoreOS-style Linux OS images.
package main

import (
	"context"
	"os"

	"github.com/imgbuild/imgbuild/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}
