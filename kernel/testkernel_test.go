package kernel

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/build/deb"
)

// The tests need a real kernel package: IMGBUILD_TEST_KERNEL_DEB names a
// linux-image .deb, or else the current candidate of Debian's cloud
// kernel is fetched through apt. Both the .deb and its unpacked tree stay
// in a cache that persists between runs.
var (
	testKernelOnce sync.Once
	testKernelDeb  string
	testKernelErr  error
)

func testCacheDir(t *testing.T) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no user cache dir for the test kernel: %v", err)
	}
	return filepath.Join(base, "imgbuild-test")
}

func kernelDeb(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real kernel package, fetched and unpacked")
	}
	testKernelOnce.Do(func() {
		if p := os.Getenv("IMGBUILD_TEST_KERNEL_DEB"); p != "" {
			testKernelDeb = p
			return
		}
		ctx := context.Background()
		p, err := deb.AptResolver().ResolveKernelMeta(ctx, "linux-image-cloud-amd64")
		if err != nil {
			testKernelErr = err
			return
		}
		testKernelDeb, testKernelErr = deb.Download(ctx, p, testCacheDir(t))
	})
	if testKernelErr != nil {
		t.Fatalf("test kernel (set IMGBUILD_TEST_KERNEL_DEB to a linux-image .deb to skip apt): %v", testKernelErr)
	}
	return testKernelDeb
}

// testKernel returns a fresh Kernel (its own index) from the shared cache.
func testKernel(t *testing.T) *Kernel {
	t.Helper()
	k, err := FromDeb(kernelDeb(t), testCacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
