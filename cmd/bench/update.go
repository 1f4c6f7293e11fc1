package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/imgbuild/imgbuild/build"
	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
	"github.com/imgbuild/imgbuild/update/server"
)

// updateTimes boots v1 of the minimal image following imgbuild serve's
// Omaha handler, whose stable channel offers v2, and measures first boot
// to v2 marked good; then publishes a v3 that never becomes healthy and
// measures that to the rollback report on v2 (three trial boots with a
// 15 s health timeout; v1 and v2 keep the default 120 s).
func (b *bencher) updateTimes() (update, rollback time.Duration, err error) {
	dir := filepath.Join(b.tmp, "update")
	if err := os.MkdirAll(filepath.Join(dir, "key"), 0o700); err != nil {
		return 0, 0, err
	}
	_, priv, err := sign.GenerateKey(filepath.Join(dir, "key"))
	if err != nil {
		return 0, 0, err
	}
	src, err := os.ReadFile(filepath.Join(b.src, "manifests", "minimal.yaml"))
	if err != nil {
		return 0, 0, err
	}
	src = bytes.Replace(src, []byte("allow_unsigned: true"), []byte("allow_unsigned: false"), 1)
	section := "\nupdate:\n  server: http://10.0.2.100/v1/update/\n  channel: stable\n  interval: 5s\n"
	sick := bytes.Replace(src, []byte("http: http://127.0.0.1:8080/"), []byte("http: http://127.0.0.1:8089/"), 1)
	res := map[string]*output.Result{}
	for v, mf := range map[string][]byte{"1.0.0": src, "2.0.0": src, "3.0.0": sick} {
		text := bytes.Replace(mf, []byte("\nversion: 1.0.0\n"), []byte("\nversion: "+v+"\n"), 1)
		text = append(text, section...)
		if v == "3.0.0" { // only the release that must fail has a short timeout
			text = append(text, "  health_timeout: 15s\n"...)
		}
		p := filepath.Join(dir, v, "minimal.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, 0, err
		}
		if err := os.WriteFile(p, text, 0o644); err != nil {
			return 0, 0, err
		}
		if res[v], err = build.Run(context.Background(), build.Options{Manifest: p, OutDir: filepath.Join(dir, v, "out"),
			SignKey: priv, CacheDir: filepath.Join(b.tmp, "cache")}); err != nil {
			return 0, 0, fmt.Errorf("build %s: %w", v, err)
		}
	}
	root := filepath.Join(dir, "repo")
	key, err := sign.LoadPrivate(priv)
	if err != nil {
		return 0, 0, err
	}
	publish := func(r *output.Result) (*repo.Channel, error) {
		kinds := map[string]string{"release": repo.KindRecord, "signature": repo.KindSignature, "usr": repo.KindUSR,
			"kernel": repo.KindKernel, "initramfs": repo.KindInitramfs}
		files := map[string]string{}
		for _, a := range r.Artifacts {
			if k, ok := kinds[a.Kind]; ok {
				files[k] = a.Path
			}
		}
		p, err := repo.AddPayload(root, files)
		if err != nil {
			return nil, err
		}
		return repo.Publish(root, "stable", p, key, time.Now())
	}
	if _, err := publish(res["2.0.0"]); err != nil {
		return 0, 0, err
	}
	srv, err := server.New(root, server.Options{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		return 0, 0, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	defer hs.Close()
	fwd, err := qemu.RelayFwd("10.0.2.100:80", l.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	var disk string
	for _, a := range res["1.0.0"].Artifacts {
		if a.Kind == "disk" {
			disk = a.Path
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{Disk: disk, Vars: filepath.Join(dir, "vars.fd"), MemoryMiB: 512, AllowReboot: true,
		GuestFwds: []string{fwd}})
	if err != nil {
		return 0, 0, err
	}
	defer vm.Kill()
	expect := func(from int, re string) (int, error) {
		i, _, err := vm.Console.Expect(ctx, from, regexp.MustCompile(re), qemu.FailurePattern)
		if err != nil {
			return 0, fmt.Errorf("waiting for %q: %w", re, err)
		}
		return i, nil
	}
	i, err := expect(0, `\[imgbuild-agent\] 2.0.0 is marked good`)
	if err != nil {
		return 0, 0, err
	}
	update = time.Since(start)
	if _, err := publish(res["3.0.0"]); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	if _, err := expect(i, `\[imgbuild-agent\] ROLLBACK: rolled back from 3.0.0`); err != nil {
		return 0, 0, err
	}
	return update, time.Since(start), nil
}
