package main

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
		want    config
		wantErr string
	}{
		{
			name: "full",
			in:   "initrd=\\imgbuild\\a\\initrd console=ttyS0,115200 imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.esp=PARTUUID=" + usr + " quiet\n",
			want: config{Slot: "a", USR: usr, Root: root, ESP: usr},
		},
		{
			name: "upper case uuid, debug shell, slot b",
			in:   "imgbuild.slot=b imgbuild.usr=PARTUUID=" + strings.ToUpper(usr) + " imgbuild.root=PARTUUID=" + root + " imgbuild.debug=shell",
			want: config{Slot: "b", USR: usr, Root: root, DebugShell: true},
		},
		{
			name: "other debug value",
			in:   "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.debug=1",
			want: config{Slot: "a", USR: usr, Root: root},
		},
		{
			name: "verity root hash",
			in:   "imgbuild.slot=a imgbuild.usr=PARTUUID=" + usr + " imgbuild.root=PARTUUID=" + root + " imgbuild.verity=" + strings.Repeat("AB", 32),
			want: config{Slot: "a", USR: usr, Root: root, Verity: strings.Repeat("ab", 32)},
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
			got, err := parseCmdline(tt.in)
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
