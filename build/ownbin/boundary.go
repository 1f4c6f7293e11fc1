package ownbin

import (
	"fmt"
	"sort"
	"strings"
)

// Module is imgbuild's module path.
const Module = "github.com/imgbuild/imgbuild"

// The machine side of the house: what an on-image program may import
// from imgbuild's own module. Everything else in the module runs on the
// build host (build, cli, cmd, images, kernel, manifest, qemu,
// update/release, update/server, ...) and must never reach an image.
var (
	// machineRooms hold the on-image programs and their libraries.
	machineRooms = []string{"initramfs/stage1", "rootfs"}
	// sharedRooms are leaves both sides import: the on-image contract,
	// the dm-verity format, release records and signatures, the update
	// repository's format and its chunks, and helpers with no product
	// meaning.
	sharedRooms = []string{"contract", "sign", "update/repo", "update/chunks", "internal"}
	// hostOnly are subtrees of shared rooms that stay on the host.
	hostOnly = []string{"sign/secureboot", "internal/reftool"}
)

// hostLibraries are third-party modules that belong on the build host.
// go-diskfs is allowed in stage-1 alone, which formats ROOT with it.
var hostLibraries = []struct {
	prefix  string
	allowIn string // a program that may import it, or ""
}{
	{"github.com/spf13/cobra", ""},
	{"github.com/aws/aws-sdk-go-v2/service/", ""},
	{"github.com/aws/aws-sdk-go-v2/config", ""},
	{"github.com/google/go-containerregistry", ""},
	{"github.com/diskfs/go-diskfs", "stage1"},
	{"go.yaml.in/yaml", ""},
	{"github.com/santhosh-tekuri/jsonschema", ""},
}

// Graph is a package import graph: import path -> its direct imports.
type Graph map[string][]string

func under(rel, room string) bool { return rel == room || strings.HasPrefix(rel, room+"/") }

// hostPackage says why pkg, imported by program, is a build-host
// package, or "" when the machine may run it.
func hostPackage(program, pkg string) string {
	if rel, ok := strings.CutPrefix(pkg, Module+"/"); ok {
		for _, r := range hostOnly {
			if under(rel, r) {
				return "a build-host package"
			}
		}
		for _, r := range append(append([]string{}, machineRooms...), sharedRooms...) {
			if under(rel, r) {
				return ""
			}
		}
		return "a build-host package (the machine side is " + strings.Join(machineRooms, ", ") +
			"; shared leaves are " + strings.Join(sharedRooms, ", ") + ")"
	}
	for _, l := range hostLibraries {
		if strings.HasPrefix(pkg, l.prefix) && l.allowIn != program {
			return "a build-host library"
		}
	}
	return ""
}

// CheckBoundary returns one line for every build-host package in the
// dependencies of the on-image program p (rooted at its package path in
// g), each with the import chain that brings it in.
func CheckBoundary(p Program, g Graph) []string {
	root := Module + "/" + strings.TrimPrefix(p.Package, "./")
	parent := map[string]string{root: ""}
	queue := []string{root}
	var bad []string
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if why := hostPackage(p.Name, pkg); why != "" {
			bad = append(bad, fmt.Sprintf("%s imports %s, %s: %s", p.Name, pkg, why, chain(parent, pkg)))
			continue
		}
		for _, imp := range g[pkg] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func chain(parent map[string]string, pkg string) string {
	var path []string
	for p := pkg; p != ""; p = parent[p] {
		path = append(path, strings.TrimPrefix(p, Module+"/"))
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return strings.Join(path, " -> ")
}
