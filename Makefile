# make image: install what is missing, build manifests/minimal.yaml and
#             boot it under QEMU until its services are healthy.
# make run:   the same image, with its console on this terminal.
# make test:  unit tests and QEMU boot tests, then make bench.
# make test-short: the inner loop, under a minute: go test -short skips
#             every image build, apt download and VM boot.
# make fuzz:  every fuzz target for FUZZTIME (1m) each, one after another.
# make bench: build times, memory, sizes, boot, update and rollback times, squashfs/verity vs the reference tools.
# make nightly: build manifests/minimal.yaml and release it to the alpha channel of out/repo.
# make cluster: build manifests/cluster.yaml, write NODES (3) members' configs and boot them
#             on one private network under QEMU (Ctrl-C powers them off).
SHELL := /bin/bash
# Go lives in /usr/local/go on the machines this targets; tests and the
# bench run go themselves, so it goes on PATH for every recipe.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
MANIFEST ?= manifests/minimal.yaml
OUT ?= out
NAME = $(basename $(notdir $(MANIFEST)))

.PHONY: all deps image run cluster test test-short bench vet fuzz clean nightly bin/imgbuild
all: bin/imgbuild

deps:
	@scripts/deps.sh

# The default build compresses USR with libzstd and liblzma, linked
# statically through cgo (make deps installs gcc, libzstd-dev and
# liblzma-dev), as mksquashfs does: at equal size as fast as mksquashfs,
# its smallest image mksquashfs's (the pure-Go encoders are 4-8% larger
# at best, and up to 5x its CPU at equal size; README's tables). Static:
# the binary still runs anywhere on its own, and two builds of one
# source tree with one toolchain are byte-identical. The image bytes then
# follow the library versions linked in rather than imgbuild's go.mod;
# `imgbuild version` names them. TAGS= builds the pure-Go encoders, as a
# plain go build or go install does (no cgo, no C toolchain); either tag
# works alone.
TAGS ?= libzstd liblzma
CGO := $(if $(or $(findstring libzstd,$(TAGS)),$(findstring liblzma,$(TAGS))),1,0)
# A static cgo binary resolves names and users in Go, not through
# glibc's NSS, which a static glibc cannot load.
NETTAGS := $(if $(filter 1,$(CGO)),netgo osusergo)
LDFLAGS := $(if $(filter 1,$(CGO)),-linkmode external -extldflags -static)

# bin/imgbuild carries the on-image programs (ownbin.Programs: stage-1,
# sysinit), built first by the generator: it builds images anywhere,
# without Go or this source tree (a plain go build compiles them from
# source at build time instead).
bin/imgbuild:
	$(GO) run ./build/ownbin/generate
	CGO_ENABLED=$(CGO) $(GO) build -tags "imgbuild_embed $(TAGS) $(NETTAGS)" -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/imgbuild

image: deps bin/imgbuild
	bin/imgbuild build -f $(MANIFEST) -o $(OUT)
	bin/imgbuild inspect $(OUT)/$(NAME).img
	bin/imgbuild run $(OUT)/$(NAME).img --until-healthy --timeout 10m

run: deps bin/imgbuild
	bin/imgbuild build -f $(MANIFEST) -o $(OUT)
	bin/imgbuild run $(OUT)/$(NAME).img

NODES ?= 3
cluster: deps bin/imgbuild
	bin/imgbuild build -f manifests/cluster.yaml -o $(OUT)
	test -d $(OUT)/cluster/machines || bin/imgbuild cluster configs --nodes $(NODES) -o $(OUT)/cluster
	bin/imgbuild cluster up $(OUT)/cluster.img --configs $(OUT)/cluster -q

# make nightly: a date version of the manifest's next release,
# MAJOR.MINOR.PATCH-nightly.YYYYMMDDHHMMSS (UTC), into the alpha channel
# of $(REPO), signed with $(KEYS)/release.key (made once if absent).
# docs/updates.md says why these versions order correctly.
NIGHTLY_MANIFEST ?= manifests/minimal.yaml
REPO ?= $(OUT)/repo
KEYS ?= keys
nightly: deps bin/imgbuild
	@test -f $(KEYS)/release.key || bin/imgbuild keygen -o $(KEYS)
	core=$$(sed -n 's/^version: *"\{0,1\}\([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' $(NIGHTLY_MANIFEST)); \
	test -n "$$core" || { echo "no version in $(NIGHTLY_MANIFEST)"; exit 1; }; \
	bin/imgbuild release -f $(NIGHTLY_MANIFEST) -o $(OUT)/nightly --repo $(REPO) --channel alpha \
		--sign-key $(KEYS)/release.key --version "$$core-nightly.$$(date -u +%Y%m%d%H%M%S)"
	bin/imgbuild channels --repo $(REPO)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# The benchmark reports and never fails the tests; it runs first so that
# go test's summary closes the output.
test: deps vet
	-$(MAKE) bench BENCHFLAGS=-quick
	eval "$$(scripts/test-kernel.sh)" && $(GO) test -timeout 80m -p 2 ./...

# make bench: one markdown table measured in one run (reported, never
# asserted; a failing measurement does not fail make test).
bench:
	eval "$$(scripts/test-kernel.sh)" && $(GO) run ./cmd/bench $(BENCHFLAGS)

# make fuzz: every native fuzz target (docs/reliability.md lists them)
# for FUZZTIME each. make test replays their seeds and crashers only (go
# test without -fuzz): a pass of FUZZTIME=3s over every target takes
# over 90 s with the builds cached, past what CI can add to make test.
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

# Nothing under -short needs the test kernel or the network.
test-short: vet
	$(GO) test -short ./...

clean:
	rm -rf bin $(OUT) build/ownbin/programs
