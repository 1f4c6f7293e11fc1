package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/build"
)

// squashfsTables runs the squashfs package's TestCompareMksquashfs, once
// with the default pure-Go encoders and, where libzstd's and liblzma's
// headers are installed, once with the opt-in library build tags, and
// returns their markdown tables.
func squashfsTables(tmp string) (string, error) {
	var out string
	for _, tags := range []string{"", libTags} {
		if tags == libTags && quick {
			continue
		}
		if tags == libTags && !haveLibs() {
			out += "(the libzstd/liblzma build left out: install libzstd-dev and liblzma-dev)\n"
			continue
		}
		t, err := compareSquashfs(tmp, tags)
		if err != nil {
			return "", err
		}
		out += t + "\n"
	}
	return out, nil
}

func compareSquashfs(tmp, tags string) (string, error) {
	table := filepath.Join(tmp, "squashfs-"+strings.ReplaceAll(tags, " ", "-")+".md")
	cmd := exec.Command("go", "test", "./images/squashfs", "-run", "^TestCompareMksquashfs$", "-count=1", "-timeout", "2h")
	if tags != "" {
		cmd.Args = append(cmd.Args, "-tags", tags)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	} else {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "IMGBUILD_BENCH=1", "IMGBUILD_BENCH_TABLE="+table,
		"IMGBUILD_BENCH_SWEEP="+filepath.Join(tmp, "sweep.json"))
	if etcd := cachedEtcd(); etcd != "" && os.Getenv("IMGBUILD_BENCH_ETCD") == "" {
		cmd.Env = append(cmd.Env, "IMGBUILD_BENCH_ETCD="+etcd)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("squashfs comparison (tags %q): %v\n%s", tags, err, out)
	}
	data, err := os.ReadFile(table)
	if err != nil {
		return "", fmt.Errorf("squashfs comparison: %w", err)
	}
	return string(data), nil
}

// cachedEtcd is an etcd binary the etcd manifest's build left in the
// imgbuild cache, or "".
func cachedEtcd() string {
	m, _ := filepath.Glob(filepath.Join(build.DefaultCacheDir(), "go", "*", "etcd"))
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// libTags are the build tags of the system-library encoders.
const libTags = "libzstd liblzma"

func haveLibs() bool {
	for _, h := range []string{"/usr/include/zstd.h", "/usr/include/lzma.h"} {
		if _, err := os.Stat(h); err != nil {
			return false
		}
	}
	return true
}
