// Command init is sysinit's container verbs alone, built static for the
// tests as sysinit is: a container's init re-executes itself inside the
// image's root, where a dynamically linked test binary finds no loader.
package main

import (
	"os"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/confine"
	"github.com/imgbuild/imgbuild/rootfs/container"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case contract.ContainerVerb:
			os.Exit(container.Main(os.Args[2:]))
		case confine.Verb:
			os.Exit(confine.ExecMain(os.Args[2:]))
		}
	}
	os.Stderr.WriteString("want " + contract.ContainerVerb + " or " + confine.Verb + "\n")
	os.Exit(2)
}
