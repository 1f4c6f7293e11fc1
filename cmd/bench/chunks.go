package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/internal/httpcount"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/release"
	"github.com/imgbuild/imgbuild/update/repo"
)

// chunkCost is what an agent seeded with the seed files (the booted
// slot's USR, kernel, initrd) downloads to assemble files by their
// chunks: the chunks the seed lacks (each once) and the indexes with
// their signatures, against the files' whole size. It is the agent's
// own chunker and seed rule, run off the machine.
type chunkCost struct {
	fetched, index, whole int64
}

func measureChunks(seedPaths, files []string) (chunkCost, error) {
	have := map[string]bool{}
	for _, p := range seedPaths {
		f, err := os.Open(p)
		if err != nil {
			return chunkCost{}, err
		}
		err = chunks.Split(f, func(c chunks.Chunk, _ []byte) error { have[c.SHA256] = true; return nil })
		f.Close()
		if err != nil {
			return chunkCost{}, err
		}
	}
	var cc chunkCost
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return chunkCost{}, err
		}
		x := chunks.Index{Format: chunks.IndexFormat, SHA256: strings.Repeat("0", 64)}
		err = chunks.Split(f, func(c chunks.Chunk, _ []byte) error {
			x.Chunks = append(x.Chunks, c)
			x.Size += c.Size
			if !have[c.SHA256] {
				have[c.SHA256] = true // fetched once; the agent then has it
				cc.fetched += c.Size
			}
			return nil
		})
		f.Close()
		if err != nil {
			return chunkCost{}, err
		}
		cc.index += int64(len(x.Marshal())) + 143 // and its signature
		cc.whole += x.Size
	}
	return cc, nil
}

func (b *bencher) cacheDir() string {
	if b.cache != "" {
		return b.cache
	}
	return filepath.Join(b.tmp, "cache")
}

// onlyChunks is -chunks: the chunked update rows alone, as a table.
func onlyChunks(noBoot bool) error {
	src, _ := os.Getwd()
	tmp, err := os.MkdirTemp("", "imgbuild-bench-chunks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bencher{src: src, tmp: tmp, cache: build.DefaultCacheDir()}
	rows, err := b.chunkRows(noBoot)
	if err != nil {
		return err
	}
	fmt.Println("| measurement | result | target |")
	fmt.Println("| --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.what, r.value, r.target)
	}
	return nil
}

// payloadPaths are a build's usr, kernel and initrd, in that order.
func payloadPaths(r *output.Result) []string {
	byKind := map[string]string{}
	for _, a := range r.Artifacts {
		byKind[a.Kind] = a.Path
	}
	return []string{byKind["usr"], byKind["kernel"], byKind["initramfs"]}
}

// chunkBuilds builds the manifest text of each version in dir, signed.
func (b *bencher) chunkBuilds(dir, name, priv string, texts map[string]string) (map[string]*output.Result, error) {
	res := map[string]*output.Result{}
	for v, text := range texts {
		p := filepath.Join(dir, v, name+".yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return nil, err
		}
		r, err := build.Run(context.Background(), build.Options{Manifest: p, OutDir: filepath.Join(dir, v, "out"),
			SignKey: priv, CacheDir: b.cacheDir()})
		if err != nil {
			return nil, fmt.Errorf("build %s %s: %w", name, v, err)
		}
		res[v] = r
	}
	return res, nil
}

func replaceOnce(s, old, new string) (string, error) {
	if !strings.Contains(s, old) {
		return "", fmt.Errorf("manifest no longer has %q; update cmd/bench/chunks.go", old)
	}
	return strings.Replace(s, old, new, 1), nil
}

// chunkRows reports the bytes an update downloads by chunks against
// whole files for three changes: etcd v1 -> v2 with only etcd itself
// changed (v3.6.16 -> v3.6.15), the minimal image with one file changed,
// and the minimal image with another kernel (a second Debian kernel
// build from the imgbuild cache, when it holds one). Without noBoot, the
// agent's time from offer to installed for the minimal image's change,
// by chunks and whole, under QEMU.
func (b *bencher) chunkRows(noBoot bool) ([]row, error) {
	dir := filepath.Join(b.tmp, "chunks")
	if err := os.MkdirAll(filepath.Join(dir, "key"), 0o700); err != nil {
		return nil, err
	}
	_, priv, err := sign.GenerateKey(filepath.Join(dir, "key"))
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(b.src, "manifests", "minimal.yaml"))
	if err != nil {
		return nil, err
	}
	v1 := strings.Replace(string(src), "allow_unsigned: true", "allow_unsigned: false", 1) +
		"\nupdate:\n  server: http://10.0.2.100/\n  channel: stable\n  interval: 5s\n"
	v2, err := replaceOnce(v1, "hello from imgbuild minimal", "hello from imgbuild minimal, version two")
	if err != nil {
		return nil, err
	}
	texts := map[string]string{"1.0.0": v1, "2.0.0": strings.Replace(v2, "\nversion: 1.0.0\n", "\nversion: 2.0.0\n", 1)}
	mres, err := b.chunkBuilds(filepath.Join(dir, "minimal"), "minimal", priv, texts)
	if err != nil {
		return nil, err
	}
	var rows []row
	add := func(what string, cc chunkCost, extra string) {
		rows = append(rows, row{what, fmt.Sprintf("chunks %s + index %.0f KiB vs whole %s (%.1f%%)%s",
			mibs(cc.fetched), float64(cc.index)/1024, mibs(cc.whole), 100*float64(cc.fetched+cc.index)/float64(cc.whole), extra), "—"})
	}
	cc, err := measureChunks(payloadPaths(mres["1.0.0"]), payloadPaths(mres["2.0.0"]))
	if err != nil {
		return nil, err
	}
	add("update download, minimal, one file changed (usr+kernel+initrd)", cc, "")

	if k, ok := otherKernel(b.cacheDir(), mres["1.0.0"]); ok {
		kv := strings.Replace(v1, "\nversion: 1.0.0\n", "\nversion: 3.0.0\n", 1)
		if kv, err = replaceOnce(kv, "kernel:\n  package: linux-image-cloud-amd64\n", "kernel:\n  path: "+k.vmlinuz+"\n  modules_dir: "+k.modules+"\n"); err != nil {
			return nil, err
		}
		kres, err := b.chunkBuilds(filepath.Join(dir, "kernel"), "minimal", priv, map[string]string{"3.0.0": kv})
		if err != nil {
			return nil, err
		}
		if cc, err = measureChunks(payloadPaths(mres["1.0.0"]), payloadPaths(kres["3.0.0"])); err != nil {
			return nil, err
		}
		add("update download, minimal, kernel changed (to the cache's other build "+k.release+")", cc, "")
	} else {
		rows = append(rows, row{"update download, minimal, kernel changed", "skipped: the imgbuild cache holds one kernel build", "—"})
	}

	if !quick {
		r, err := b.etcdChunkRow(filepath.Join(dir, "etcd"), priv)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if !noBoot && !quick {
		for _, chunked := range []bool{false, true} {
			d, sent, err := agentUpdateTime(filepath.Join(dir, fmt.Sprintf("qemu-%v", chunked)), mres, priv, chunked)
			if err != nil {
				return nil, err
			}
			how := "whole files"
			if chunked {
				how = "by chunks"
			}
			rows = append(rows, row{"update, minimal one file changed, " + how + ": agent's offer to installed (QEMU TCG; bytes served)",
				fmt.Sprintf("%s (%s)", secs(d), mibs(sent)), "—"})
		}
	}
	return rows, nil
}

// etcdChunkRow measures etcd v1 -> v2 where only the etcd binary
// changes, against that binary's own compressed size (zstd at the
// USR's level in squashfs's 128 KiB blocks).
func (b *bencher) etcdChunkRow(dir, priv string) (row, error) {
	src, err := os.ReadFile(filepath.Join(b.src, "manifests", "etcd.yaml"))
	if err != nil {
		return row{}, err
	}
	v1 := string(src)
	v2, err := replaceOnce(strings.Replace(v1, "\nversion: 1.0.0\n", "\nversion: 2.0.0\n", 1), "version: v3.6.16", "version: v3.6.15")
	if err != nil {
		return row{}, err
	}
	res, err := b.chunkBuilds(dir, "etcd", priv, map[string]string{"1.0.0": v1, "2.0.0": v2})
	if err != nil {
		return row{}, err
	}
	cc, err := measureChunks(payloadPaths(res["1.0.0"]), payloadPaths(res["2.0.0"]))
	if err != nil {
		return row{}, err
	}
	bin := filepath.Join(dir, "etcd-v2")
	if out, err := exec.Command("unsquashfs", "-no-xattrs", "-d", bin, payloadPaths(res["2.0.0"])[0], "bin/etcd").CombinedOutput(); err != nil {
		return row{}, fmt.Errorf("unsquashfs: %v\n%s", err, out)
	}
	comp, err := blockCompressed(filepath.Join(bin, "bin", "etcd"))
	if err != nil {
		return row{}, err
	}
	ratio := float64(cc.fetched+cc.index) / float64(comp)
	return row{"update download, etcd v1 -> v2, etcd binary changed (v3.6.16 -> v3.6.15)",
		fmt.Sprintf("chunks %s + index %.0f KiB vs whole %s; %.2fx the new etcd's compressed %s", mibs(cc.fetched), float64(cc.index)/1024,
			mibs(cc.whole), ratio, mibs(comp)), "≤ 1.5x + index"}, nil
}

// blockCompressed is a file's size as squashfs stores it: zstd in
// 128 KiB blocks.
func blockCompressed(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		return 0, err
	}
	var n int64
	for off := 0; off < len(data); off += 128 << 10 {
		blk := data[off:min(off+128<<10, len(data))]
		n += int64(min(len(enc.EncodeAll(blk, nil)), len(blk)))
	}
	return n, nil
}

type cachedKernel struct{ vmlinuz, modules, release string }

// otherKernel finds in the imgbuild caches the newest Debian kernel
// build of r's arch other than the one r boots.
func otherKernel(cacheDir string, r *output.Result) (cachedKernel, bool) {
	cur, err := os.ReadFile(payloadPaths(r)[1])
	if err != nil {
		return cachedKernel{}, false
	}
	// Debian names a kernel's arch last (6.1.0-57-cloud-arm64); the
	// caches may hold another arch's builds.
	arch := r.Run.Arch
	if arch == "" {
		arch = "amd64"
	}
	var best cachedKernel
	for _, cache := range []string{cacheDir, build.DefaultCacheDir()} {
		ms, _ := filepath.Glob(filepath.Join(cache, "kernels", "*", "boot", "vmlinuz-*"))
		for _, m := range ms {
			rel := strings.TrimPrefix(filepath.Base(m), "vmlinuz-")
			mods := filepath.Join(filepath.Dir(filepath.Dir(m)), "lib", "modules", rel)
			data, err := os.ReadFile(m)
			if _, serr := os.Stat(mods); err != nil || serr != nil || bytes.Equal(data, cur) || !strings.HasSuffix(rel, "-"+arch) {
				continue
			}
			// The newest other build: the nearest to a routine kernel
			// update, as Debian's releases only move forward.
			if rel > best.release {
				best = cachedKernel{vmlinuz: m, modules: mods, release: rel}
			}
		}
	}
	return best, best.release != ""
}

// agentUpdateTime boots minimal v1 following a static repository that
// offers v2, released with or without chunks, and times the agent from
// its offer line to its installed line; it returns that and the bytes
// the server sent.
func agentUpdateTime(dir string, res map[string]*output.Result, priv string, chunked bool) (time.Duration, int64, error) {
	root := filepath.Join(dir, "repo")
	files, err := release.Files(res["2.0.0"])
	if err != nil {
		return 0, 0, err
	}
	p, err := repo.AddPayload(root, files)
	if err != nil {
		return 0, 0, err
	}
	key, err := sign.LoadPrivate(priv)
	if err != nil {
		return 0, 0, err
	}
	if chunked {
		if _, err := release.StoreChunks(root, p, key); err != nil {
			return 0, 0, err
		}
	}
	if _, err := repo.Publish(root, "stable", p, key, time.Now()); err != nil {
		return 0, 0, err
	}
	sent := httpcount.New(http.FileServer(http.Dir(root)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	hs := &http.Server{Handler: sent}
	go hs.Serve(l)
	defer hs.Close()
	fwd, err := qemu.RelayFwd("10.0.2.100:80", l.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	disk := filepath.Join(dir, "v1.img")
	for _, a := range res["1.0.0"].Artifacts {
		if a.Kind == "disk" {
			if out, err := exec.Command("cp", "--sparse=always", a.Path, disk).CombinedOutput(); err != nil {
				return 0, 0, fmt.Errorf("copy disk: %v\n%s", err, out)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.Config{Disk: disk, Vars: filepath.Join(dir, "vars.fd"), MemoryMiB: 512, AllowReboot: true,
		GuestFwds: []string{fwd}})
	if err != nil {
		return 0, 0, err
	}
	defer vm.Kill()
	i, _, err := vm.Console.Expect(ctx, 0, regexp.MustCompile(`\[imgbuild-agent\] offered 2.0.0`), qemu.FailurePattern)
	if err != nil {
		return 0, 0, fmt.Errorf("waiting for the offer: %w", err)
	}
	start := time.Now()
	if _, _, err := vm.Console.Expect(ctx, i, regexp.MustCompile(`\[imgbuild-agent\] installed 2.0.0 into slot b`), qemu.FailurePattern); err != nil {
		return 0, 0, fmt.Errorf("waiting for the install: %w", err)
	}
	return time.Since(start), sent.Total("/"), nil
}
