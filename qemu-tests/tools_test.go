package qemutests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/inspect"
)

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: run make deps (scripts/deps.sh installs it)", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInspectAgreesWithSgdisk compares imgbuild inspect's report field
// by field with sgdisk's view of the same image.
func TestInspectAgreesWithSgdisk(t *testing.T) {
	res := buildImage(t, "minimal")
	img := artifact(t, res, "disk")
	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if v := tool(t, "sgdisk", "-v", img); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
	p := tool(t, "sgdisk", "-p", img)
	if m := regexp.MustCompile(`Disk identifier \(GUID\): (\S+)`).FindStringSubmatch(p); m == nil || !strings.EqualFold(m[1], r.DiskGUID) {
		t.Errorf("disk GUID: sgdisk %v, inspect %s", m, r.DiskGUID)
	}
	var labels []string
	for _, part := range r.Partitions {
		labels = append(labels, strconv.Itoa(part.Number)+":"+part.Label)
		out := tool(t, "sgdisk", "-i", strconv.Itoa(part.Number), img)
		field := func(re string) string {
			m := regexp.MustCompile(re).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("sgdisk -i %d: no %q in\n%s", part.Number, re, out)
			}
			return m[1]
		}
		first, _ := strconv.ParseInt(field(`First sector: (\d+)`), 10, 64)
		last, _ := strconv.ParseInt(field(`Last sector: (\d+)`), 10, 64)
		attrs, _ := strconv.ParseUint(field(`Attribute flags: ([0-9A-Fa-f]+)`), 16, 64)
		checks := []struct{ what, sgdisk, ours string }{
			{"type GUID", strings.ToLower(field(`Partition GUID code: (\S+)`)), strings.ToLower(part.TypeGUID)},
			{"unique GUID", strings.ToLower(field(`Partition unique GUID: (\S+)`)), strings.ToLower(part.GUID)},
			{"name", field(`Partition name: '([^']*)'`), part.Label},
			{"start", strconv.FormatInt(first*512, 10), strconv.FormatInt(part.Start, 10)},
			{"size", strconv.FormatInt((last-first+1)*512, 10), strconv.FormatInt(part.Size, 10)},
			{"attributes", strconv.FormatUint(attrs, 16), strconv.FormatUint(part.Attributes, 16)},
		}
		for _, c := range checks {
			if c.sgdisk != c.ours {
				t.Errorf("partition %d %s: sgdisk %s, inspect %s", part.Number, c.what, c.sgdisk, c.ours)
			}
		}
	}
	if got := strings.Join(labels, " "); got != "1:EFI-SYSTEM 3:USR-A 4:USR-B 6:OEM 9:ROOT" {
		t.Errorf("partitions = %s", got)
	}
	if a := r.Partitions[1].Slot; a == nil || a.Priority != 1 || !a.Successful {
		t.Errorf("USR-A slot = %+v, want priority 1, successful", a)
	}
}

// TestUSRWithUnsquashfs lists and extracts USR with squashfs-tools and
// checks it holds what the manifest asked for, as the manifest asked.
func TestUSRWithUnsquashfs(t *testing.T) {
	res := buildImage(t, "minimal")
	usr := artifact(t, res, "usr")
	list := tool(t, "unsquashfs", "-lln", "-UTC", usr)
	epoch := time.Unix(res.SourceDateEpoch, 0).UTC().Format("2006-01-02 15:04")
	want := []string{
		`-rwxr-xr-x 0/0 .* ` + epoch + ` squashfs-root/bin/busybox$`,
		`lrwxrwxrwx 0/0 .* squashfs-root/bin/sh -> busybox$`,
		`-rwxr-xr-x 0/0 .* squashfs-root/lib/imgbuild/sysinit$`,
		`-rw-r--r-- 0/0 .* squashfs-root/lib/imgbuild/image.json$`,
		`-rw-r--r-- 0/0 .* squashfs-root/share/factory/etc/passwd$`,
		`-rw-r--r-- 0/0 .* squashfs-root/share/www/index.html$`,
	}
	for _, w := range want {
		if !regexp.MustCompile(`(?m)^` + w).MatchString(list) {
			t.Errorf("unsquashfs -lln has no line matching %q:\n%s", w, list)
		}
	}
	dir := filepath.Join(t.TempDir(), "x")
	tool(t, "unsquashfs", "-n", "-d", dir, usr)
	page, err := os.ReadFile(filepath.Join(dir, "share/www/index.html"))
	if err != nil || string(page) != "hello from imgbuild minimal\n" {
		t.Errorf("index.html = %q, %v", page, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "lib/imgbuild/image.json"))
	if !strings.Contains(string(cfg), `"name": "httpd"`) {
		t.Errorf("image.json lacks the httpd service:\n%s", cfg)
	}
}

// TestESPWithMtools checks the ESP with dosfstools and mtools.
func TestESPWithMtools(t *testing.T) {
	res := buildImage(t, "minimal")
	img := artifact(t, res, "disk")
	r, err := inspect.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	esp := r.Partitions[0]
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(part, data[esp.Start:esp.Start+esp.Size], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	list := tool(t, "mdir", "-i", part, "-/", "-b", "::")
	var got []string
	for _, l := range strings.Fields(list) {
		if !strings.HasSuffix(l, "/") {
			got = append(got, strings.TrimPrefix(l, "::/"))
		}
	}
	sort.Strings(got)
	var ours []string
	for _, f := range r.ESPFiles {
		ours = append(ours, f.Path)
	}
	if strings.Join(got, " ") != strings.Join(ours, " ") {
		t.Errorf("mdir lists\n %v\ninspect lists\n %v", got, ours)
	}
	for _, want := range []string{"EFI/BOOT/BOOTX64.EFI", "loader/entries/imgbuild-a+3.conf", "imgbuild/a/vmlinuz", "imgbuild/a/initrd"} {
		if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+want+" ") {
			t.Errorf("ESP lacks %s", want)
		}
	}
	entry := tool(t, "mtype", "-i", part, "::loader/entries/imgbuild-a+3.conf")
	if !strings.Contains(entry, "imgbuild.usr=PARTUUID="+r.Partitions[1].GUID) {
		t.Errorf("boot entry does not boot USR-A (%s):\n%s", r.Partitions[1].GUID, entry)
	}
}
