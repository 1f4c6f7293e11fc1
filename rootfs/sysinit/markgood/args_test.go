package markgood

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
)

// espWith writes slot b's record with args and its counted entry file
// with options.
func espWith(t *testing.T, args []string, file, options string) string {
	t.Helper()
	root := t.TempDir()
	rec, err := json.Marshal(sign.Record{Format: sign.RecordFormat, Name: "minimal", Version: "2.0.0", KernelArgs: args})
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]string{
		contract.RecordPath("b"):                 string(rec),
		contract.EntriesDir + "/" + file:         "title   minimal 2.0.0 (USR-B)\nversion 2.0.0\nlinux   /imgbuild/b/vmlinuz\ninitrd  /imgbuild/b/initrd\n" + options + "\n",
		contract.EntriesDir + "/imgbuild-a.conf": "title   minimal 1.0.0 (USR-A)\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const oldOptions = "options console=ttyS0 imgbuild.esp=PARTUUID=e imgbuild.slot=b imgbuild.usr=PARTUUID=u imgbuild.verity=abc"

// An entry an old agent wrote (the booted slot's arguments kept) gets
// the release's, and the try this boot used back.
func TestFixArgs(t *testing.T) {
	want := []string{"console=ttyS0", "imgbuild.esp=PARTUUID=e", "imgbuild.v2=1"}
	root := espWith(t, want, "imgbuild-b+2-1.conf", oldOptions)
	a, err := FixArgs(root, "b")
	if err != nil || a == nil {
		t.Fatalf("FixArgs = %+v, %v; want a rewrite", a, err)
	}
	if a.Version != "2.0.0" || a.Entry != "imgbuild-b+3.conf" || !slices.Equal(a.Was, []string{"console=ttyS0", "imgbuild.esp=PARTUUID=e"}) {
		t.Errorf("FixArgs = %+v", a)
	}
	dir := filepath.Join(root, filepath.FromSlash(contract.EntriesDir))
	if _, err := os.Stat(filepath.Join(dir, "imgbuild-b+2-1.conf")); !os.IsNotExist(err) {
		t.Errorf("the used entry name is still there: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "imgbuild-b+3.conf"))
	if err != nil {
		t.Fatal(err)
	}
	wantText := "title   minimal 2.0.0 (USR-B)\nversion 2.0.0\nlinux   /imgbuild/b/vmlinuz\ninitrd  /imgbuild/b/initrd\n" +
		"options console=ttyS0 imgbuild.esp=PARTUUID=e imgbuild.v2=1 imgbuild.slot=b imgbuild.usr=PARTUUID=u imgbuild.verity=abc\n"
	if string(got) != wantText {
		t.Errorf("entry:\n%s\nwant:\n%s", got, wantText)
	}
	// Booted again with them: nothing more to do, so no reboot loop.
	if a, err := FixArgs(root, "b"); err != nil || a != nil {
		t.Errorf("second FixArgs = %+v, %v; want nothing", a, err)
	}
}

func TestFixArgsNothingToDo(t *testing.T) {
	for name, c := range map[string]struct {
		args          []string
		file, options string
	}{
		"already the release's":     {[]string{"console=ttyS0", "imgbuild.esp=PARTUUID=e"}, "imgbuild-b+2-1.conf", oldOptions},
		"record before kernel_args": {nil, "imgbuild-b+2-1.conf", oldOptions},
		"not counted (marked good)": {[]string{"x=1"}, "imgbuild-b.conf", oldOptions},
		"UKI entry, no options":     {[]string{"x=1"}, "imgbuild-b+2-1.conf", "efi     /imgbuild/b/uki.efi"},
	} {
		root := espWith(t, c.args, c.file, c.options)
		if a, err := FixArgs(root, "b"); err != nil || a != nil {
			t.Errorf("%s: FixArgs = %+v, %v; want nothing", name, a, err)
		}
	}
}
