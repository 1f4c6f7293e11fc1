// Package esp reads the EFI system partition of an imgbuild disk back,
// on the build host (inspect, verify, repro and the tests). It reads with
// go-diskfs, which is independent of our writer (internal/fat).
package esp
