package markgood

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/blockdev"
)

func TestRenameEntry(t *testing.T) {
	tests := []struct {
		name      string
		files     []string
		slot      string
		wantName  string
		wantFiles []string
	}{
		{"fresh", []string{"imgbuild-a+3.conf", "imgbuild-b.conf"}, "a", "imgbuild-a.conf", []string{"imgbuild-a.conf", "imgbuild-b.conf"}},
		{"tried", []string{"imgbuild-a+2-1.conf"}, "a", "imgbuild-a.conf", []string{"imgbuild-a.conf"}},
		{"exhausted", []string{"imgbuild-b+0-3.conf", "imgbuild-a.conf"}, "b", "imgbuild-b.conf", []string{"imgbuild-a.conf", "imgbuild-b.conf"}},
		{"already good", []string{"imgbuild-a.conf", "imgbuild-b+3.conf"}, "a", "", []string{"imgbuild-a.conf", "imgbuild-b+3.conf"}},
		{"other slot only", []string{"imgbuild-b+1-2.conf"}, "a", "", []string{"imgbuild-b+1-2.conf"}},
		{"not a counter", []string{"imgbuild-a+x.conf", "imgbuild-ab+3.conf"}, "a", "", []string{"imgbuild-a+x.conf", "imgbuild-ab+3.conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("title "+f+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := RenameEntry(dir, tt.slot)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantName {
				t.Errorf("RenameEntry = %q, want %q", got, tt.wantName)
			}
			ents, _ := os.ReadDir(dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			if strings.Join(names, " ") != strings.Join(tt.wantFiles, " ") {
				t.Errorf("files %v, want %v", names, tt.wantFiles)
			}
		})
	}
}

// TestFindESP fakes /sys/block and /dev with an sgdisk image (sgdisk is
// a reference tool CI installs) as vda, and looks partitions up the way
// Mark does, in either case.
func TestFindESP(t *testing.T) {
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Fatal("sgdisk is required for this test (package gdisk)")
	}
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	for _, d := range []string{"sys/vda/queue", "sys/vda/vda1", "sys/vda/vda3", "sys/loop0", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sys, "vda/queue/logical_block_size"), []byte("512\n"), 0o644)
	os.WriteFile(filepath.Join(sys, "vda/vda1/partition"), []byte("1\n"), 0o644)
	os.WriteFile(filepath.Join(sys, "vda/vda3/partition"), []byte("3\n"), 0o644)
	img := filepath.Join(dev, "vda")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	const esp = "0b7a3c2e-1d4f-4a5b-9c8d-7e6f5a4b3c2d"
	const usr = "F00DCAFE-0000-4000-8000-000000000003"
	out, err := exec.Command("sgdisk",
		"-n", "1:2048:+4M", "-t", "1:EF00", "-u", "1:"+esp, "-c", "1:EFI-SYSTEM",
		"-n", "3:0:+4M", "-u", "3:"+usr, "-c", "3:USR-A", img).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk: %v\n%s", err, out)
	}
	tree := blockdev.Tree{Sys: sys, Dev: dev, SectorSize: blockdev.SectorSize}
	tests := []struct {
		uuid string
		num  int
		node string
	}{
		{esp, 1, "vda1"},
		{strings.ToUpper(esp), 1, "vda1"},
		{usr, 3, "vda3"},
		{strings.ToLower(usr), 3, "vda3"},
	}
	for _, tt := range tests {
		p, err := findESP(tree, tt.uuid)
		if err != nil || p.Number != tt.num || p.Node != filepath.Join(dev, tt.node) || p.Disk != img {
			t.Errorf("findESP(%s) = %+v, %v; want partition %d at %s", tt.uuid, p, err, tt.num, tt.node)
		}
	}
	for _, missing := range []string{"00000000-0000-0000-0000-000000000009", "00000000-0000-0000-0000-000000000001"} {
		if p, err := findESP(tree, missing); err == nil {
			t.Errorf("findESP(%s) found %+v, a partition that does not exist", missing, p)
		}
	}
}
