# make image: install what is missing, build manifests/minimal.yaml and
#             boot it under QEMU until its services are healthy.
# make run:   the same image, with its console on this terminal.
# make test:  unit tests and QEMU boot tests, then make bench.
# make bench: build times, memory, sizes, boot time, squashfs/verity vs the reference tools.
SHELL := /bin/bash
GO ?= go
MANIFEST ?= manifests/minimal.yaml
OUT ?= out
NAME = $(basename $(notdir $(MANIFEST)))

.PHONY: all deps image run test test-short bench vet clean bin/imgbuild
all: bin/imgbuild

deps:
	@scripts/deps.sh

# TAGS=libzstd compresses USR with the system's libzstd through cgo
# (needs libzstd-dev): 5-10% smaller than the pure-Go default at USR's
# level 19 (and slower), as fast as mksquashfs at equal size, and
# reproducible per libzstd version rather than per imgbuild version.
TAGS ?=

# bin/imgbuild carries the on-image programs (ownbin.Programs: stage-1,
# sysinit), built first by the generator: it builds images anywhere,
# without Go or this source tree (a plain go build compiles them from
# source at build time instead).
bin/imgbuild:
	$(GO) run ./internal/ownbin/generate
	CGO_ENABLED=$(if $(findstring libzstd,$(TAGS)),1,0) $(GO) build -tags "imgbuild_embed $(TAGS)" -trimpath -o $@ ./cmd/imgbuild

image: deps bin/imgbuild
	bin/imgbuild build -f $(MANIFEST) -o $(OUT)
	bin/imgbuild inspect $(OUT)/$(NAME).img
	bin/imgbuild run $(OUT)/$(NAME).img --until-healthy --timeout 10m

run: deps bin/imgbuild
	bin/imgbuild build -f $(MANIFEST) -o $(OUT)
	bin/imgbuild run $(OUT)/$(NAME).img

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# The benchmark reports and never fails the tests; it runs first so that
# go test's summary closes the output.
test: deps vet
	-$(MAKE) bench
	eval "$$(scripts/test-kernel.sh)" && $(GO) test -timeout 45m -p 2 ./...

# make bench: one markdown table measured in one run (reported, never
# asserted; a failing measurement does not fail make test).
bench:
	eval "$$(scripts/test-kernel.sh)" && $(GO) run ./internal/bench

test-short: vet
	$(GO) test -short ./...

clean:
	rm -rf bin $(OUT) internal/ownbin/programs
