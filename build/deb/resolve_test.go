package deb

import (
	"context"
	"fmt"
	"github.com/imgbuild/imgbuild/build/deb/archive"
	"os/exec"
	"strings"
	"testing"
)

// Captured from apt-cache on Debian 12 with the security archive enabled.
const (
	policyMeta = `linux-image-cloud-amd64:
  Installed: (none)
  Candidate: 6.1.192-2
  Version table:
     6.1.192-2 500
        500 http://archive.invalid/debian-security bookworm-security/main amd64 Packages
     6.1.176-1 500
        500 http://archive.invalid/debian bookworm/main amd64 Packages
`
	showMeta = `Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Installed-Size: 13
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Provides: linux-latest-modules-6.1.0-56-cloud-amd64, virtualbox-guest-modules, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
Description: Linux for x86-64 cloud (meta-package)
 This package depends on the latest Linux kernel and modules for use on
 cloud platforms.
Description-md5: 11b016f38b41530eec9d7e80035fed66
Section: kernel
Priority: optional
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-cloud-amd64_6.1.192-2_amd64.deb
Size: 1504
SHA256: 00be21c0c17f08ddf26e82d3b53fe7a41efa4a288938da6bb69e89c4b25c281d

`
	showKernel = `Package: linux-image-6.1.0-56-cloud-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Installed-Size: 105548
Architecture: amd64
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb
Size: 26713492
SHA256: e7d02b943971edcb8790e256c02cfab3bca6c3d37c1bf25392a57c71300615ee

`
	policyNone = `ghost:
  Installed: (none)
  Candidate: (none)
  Version table:
`
)

// fakeApt answers apt-cache calls from captured text.
func fakeApt(answers map[string]string) runFunc {
	return func(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
		key := name + " " + strings.Join(args, " ")
		if out, ok := answers[key]; ok {
			return []byte(out), nil
		}
		return nil, fmt.Errorf("unexpected command %q", key)
	}
}

func TestResolveKernelMetaCaptured(t *testing.T) {
	run := fakeApt(map[string]string{
		"apt-cache policy linux-image-cloud-amd64":                  policyMeta,
		"apt-cache show linux-image-cloud-amd64=6.1.192-2":          showMeta,
		"apt-cache show linux-image-6.1.0-56-cloud-amd64=6.1.192-2": showKernel,
	})
	got, err := resolveKernelMeta(context.Background(), aptIndex{run}, "linux-image-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	want := Package{
		Name: "linux-image-6.1.0-56-cloud-amd64", Version: "6.1.192-2", Arch: "amd64",
		SHA256:   "e7d02b943971edcb8790e256c02cfab3bca6c3d37c1bf25392a57c71300615ee",
		Filename: "pool/updates/main/l/linux-signed-amd64/linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
	}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name, pkg string
		answers   map[string]string
		wantInErr string
	}{
		{"no candidate", "ghost", map[string]string{"apt-cache policy ghost": policyNone}, "no candidate"},
		{"unknown to apt", "ghost", map[string]string{"apt-cache policy ghost": ""}, "does not know"},
		{"no sha256", "linux-image-cloud-amd64", map[string]string{
			"apt-cache policy linux-image-cloud-amd64":         policyMeta,
			"apt-cache show linux-image-cloud-amd64=6.1.192-2": strings.Replace(showMeta, "SHA256:", "X-SHA:", 1),
		}, "no SHA256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolve(context.Background(), aptIndex{fakeApt(tc.answers)}, tc.pkg)
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) || !strings.Contains(err.Error(), tc.pkg) {
				t.Errorf("error %v: want it to name %q and say %q", err, tc.pkg, tc.wantInErr)
			}
		})
	}
}

func TestParseDepends(t *testing.T) {
	got := parseDepends("kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, libc6:any (= 2.36-9)")
	want := []dependency{{"kmod", "", ""}, {"linux-base", ">=", "4.3~"}, {"initramfs-tools", ">=", "0.120+deb8u2"}, {"libc6", "=", "2.36-9"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestResolveLive asks this machine's apt and checks the answer against
// apt-cache's own output for the same package.
func TestResolveLive(t *testing.T) {
	if testing.Short() {
		t.Skip("asks this machine's apt, several apt-cache runs")
	}
	ctx := context.Background()
	apt := AptResolver()
	p, err := apt.Resolve(ctx, "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("apt-cache", "show", p.Name+"="+p.Version).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"SHA256: " + p.SHA256, "Filename: " + p.Filename, "Architecture: " + p.Arch} {
		if !strings.Contains(string(out), "\n"+field+"\n") {
			t.Errorf("apt-cache show has no line %q", field)
		}
	}
	k, err := apt.ResolveKernelMeta(ctx, "linux-image-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !kernelPackage.MatchString(k.Name) || !strings.HasSuffix(k.Name, "-cloud-amd64") {
		t.Errorf("ResolveKernelMeta gave %q, want linux-image-<abi>-cloud-amd64", k.Name)
	}

	// The archive backend, reading the same archives apt is configured
	// with, must pick the same candidates.
	arc := ArchiveResolver(liveArchive(t))
	for _, tc := range []struct {
		want    Package
		resolve func() (Package, error)
	}{
		{p, func() (Package, error) { return arc.Resolve(ctx, "busybox-static") }},
		{k, func() (Package, error) { return arc.ResolveKernelMeta(ctx, "linux-image-cloud-amd64") }},
	} {
		got, err := tc.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != tc.want.Name || got.Version != tc.want.Version || got.SHA256 != tc.want.SHA256 || got.Filename != tc.want.Filename {
			t.Errorf("archive backend resolved %+v, apt %+v", got, tc.want)
		}
	}
}

// liveArchive reads bookworm from the archives this machine's apt uses.
func liveArchive(t *testing.T) *archive.Client {
	t.Helper()
	apt, err := archive.ReadAptSources("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	sources := archive.Bookworm("amd64")
	keys, err := archive.DebianKeyring()
	if err != nil {
		t.Fatal(err)
	}
	c, err := archive.New(archive.Config{Sources: sources, URLs: archive.URLsFromApt(sources, apt), Keys: keys, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
