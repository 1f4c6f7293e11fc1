// Command imgbuild builds minimal, CoreOS-style Linux OS images.
package main

import (
	"context"
	"os"

	"github.com/imgbuild/imgbuild/cli"
	"github.com/imgbuild/imgbuild/qemu"
)

func main() {
	// cluster up --update-server's guestfwd runs imgbuild as its relay.
	if addr := qemu.RelayAddr(); addr != "" {
		os.Exit(qemu.Relay(addr))
	}
	os.Exit(cli.Execute(context.Background(), cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}
