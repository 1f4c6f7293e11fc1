package contract

import (
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	const usr = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"
	const root = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"
	tests := []struct {
		name    string
		in      string
		want    Cmdline
		wantErr string
	}{
		{
			name: "full",
			in:   "initrd=\\imgbuild\\a\\initrd console=ttyS0,115200 imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.esp=PARTUUID=" + usr + " quiet\n",
			want: Cmdline{Slot: "a", USR: usr, Root: root, ESP: usr},
		},
		{
			name: "upper case uuid, debug shell, slot b",
			in:   "imgbuild.slot=b imgbuild.usr=PARTUUID=" + strings.ToUpper(usr) + " imgbuild.root=PARTUUID=" + root + " imgbuild.debug=shell",
			want: Cmdline{Slot: "b", USR: usr, Root: root, DebugShell: true},
		},
		{
			name: "other debug value",
			in:   "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.debug=1",
			want: Cmdline{Slot: "a", USR: usr, Root: root},
		},
		{
			name: "verity root hash",
			in:   "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.verity=" + strings.Repeat("AB", 32),
			want: Cmdline{Slot: "a", USR: usr, Root: root, Verity: strings.Repeat("ab", 32)},
		},
		{name: "short verity hash", in: "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.verity=abcd", wantErr: "64 hex digits"},
		{name: "no slot", in: "imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root, wantErr: "imgbuild.slot"},
		{name: "bad slot", in: "imgbuild.slot=c imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root, wantErr: "imgbuild.slot"},
		{name: "no usr", in: "imgbuild.slot=a imgbuild.root=PARTUUID=" + root, wantErr: "imgbuild.usr= missing"},
		{name: "no root", in: "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr, wantErr: "imgbuild.root= missing"},
		{name: "device path instead of PARTUUID", in: "imgbuild.slot=a imgbuild.usr=/dev/vda3 imgbuild.root=PARTUUID=" + root, wantErr: "want PARTUUID"},
		{name: "short uuid", in: "imgbuild.slot=a imgbuild.usr=PARTUUID=1234 imgbuild.root=PARTUUID=" + root, wantErr: "malformed"},
		{name: "non-hex uuid", in: "imgbuild.slot=a imgbuild.usr=PARTUUID=" + strings.Replace(usr, "0", "g", 1) + " imgbuild.root=PARTUUID=" + root, wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCmdline(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestArgsRoundTrip: what the builder writes is what stage-1 reads.
func TestArgsRoundTrip(t *testing.T) {
	c := Cmdline{Slot: "b", USR: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b04", Root: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09",
		ESP: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01", Verity: strings.Repeat("0f", 32), DebugShell: true}
	release := append(append([]string(nil), BaseArgs...), c.SharedArgs()...)
	got, err := ParseCmdline(strings.Join(EntryArgs(release, c), " "))
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("round trip: got %+v, want %+v", got, c)
	}
}

func TestParseEntryFile(t *testing.T) {
	tests := []struct {
		in   string
		want EntryName
		ok   bool
	}{
		{"imgbuild-a+3.conf", EntryName{ID: "imgbuild-a", Counting: true, Left: 3}, true},
		{"imgbuild-b+2-1.conf", EntryName{ID: "imgbuild-b", Counting: true, Left: 2, Done: 1}, true},
		{"imgbuild-a+0-3.conf", EntryName{ID: "imgbuild-a", Counting: true, Left: 0, Done: 3}, true},
		{"imgbuild-a.conf", EntryName{ID: "imgbuild-a"}, true},
		{"imgbuild-a+x.conf", EntryName{ID: "imgbuild-a+x"}, true},
		{"imgbuild-a+3", EntryName{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseEntryFile(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseEntryFile(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, s := range Slots {
		if n, _ := ParseEntryFile(EntryFile(s, DefaultTries)); EntrySlot(n.ID) != s || n.Left != DefaultTries {
			t.Errorf("EntryFile(%s) does not parse back: %+v", s, n)
		}
	}
}

func TestParam(t *testing.T) {
	cl := "initrd=\\imgbuild\\a\\initrd console=ttyS0 imgbuild.slot=a imgbuild.esp=PARTUUID=ABC-def quiet imgbuild.slot=b"
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"imgbuild.slot", "b", true},
		{"imgbuild.esp", "PARTUUID=ABC-def", true},
		{"quiet", "", false},
		{"console", "ttyS0", true},
		{"imgbuild.root", "", false},
	}
	for _, tt := range tests {
		got, ok := Param(cl, tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Param(%q) = %q,%v want %q,%v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEntryArgs(t *testing.T) {
	c := Cmdline{Slot: "a", USR: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03", Root: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09",
		ESP: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01", Verity: strings.Repeat("0f", 32)}
	release := append(append([]string(nil), BaseArgs...), append(c.SharedArgs(), "loglevel=7")...)
	got := strings.Join(EntryArgs(release, c), " ")
	want := strings.Join(BaseArgs, " ") + " imgbuild.root=PARTUUID=" + c.Root + " imgbuild.esp=PARTUUID=" + c.ESP +
		" loglevel=7 imgbuild.slot=a imgbuild.usr=PARTUUID=" + c.USR + " imgbuild.verity=" + c.Verity
	if got != want {
		t.Errorf("entry args\n got %s\nwant %s", got, want)
	}
	if err := CheckReleaseArgs(release); err != nil {
		t.Errorf("release args refused: %v", err)
	}
	for _, a := range c.SlotArgs() {
		if err := CheckReleaseArgs(append(release, a)); err == nil || !strings.Contains(err.Error(), "names a slot") {
			t.Errorf("release args with %s: %v", a, err)
		}
	}
	for _, a := range []string{"", "a b", "x\ty"} {
		if err := CheckReleaseArgs([]string{a}); err == nil {
			t.Errorf("release arg %q accepted", a)
		}
	}
	// A key that merely starts like a slot key is not one.
	if err := CheckReleaseArgs([]string{"imgbuild.slotx=1", "imgbuild.usr2"}); err != nil {
		t.Error(err)
	}
}

// TestBaseArgsFor checks the console per arch, and that asking for
// arm64's arguments leaves BaseArgs (amd64's) as they were.
func TestBaseArgsFor(t *testing.T) {
	if got := BaseArgsFor("arm64"); got[0] != "console=ttyAMA0,115200" || len(got) != len(BaseArgs) {
		t.Errorf("arm64: %q", got)
	}
	if got := BaseArgsFor("amd64"); got[0] != "console=ttyS0,115200" || BaseArgs[0] != "console=ttyS0,115200" {
		t.Errorf("amd64: %q, BaseArgs %q", got, BaseArgs)
	}
}
