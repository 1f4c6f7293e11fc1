package repo

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/sign"
)

func TestVouched(t *testing.T) {
	sum := func(c string) string { return strings.Repeat(c, 64) }
	plain := &sign.Record{Version: "2.0.0", USR: sum("1"), USRSize: 4096, Kernel: sum("2"), Initramfs: sum("3")}
	secure := *plain
	secure.UKI = map[string]string{"a": sum("a"), "b": sum("b")}
	file := func(kind, sha string, size int64) File {
		return File{Kind: kind, Path: ObjectPath(sha), Size: size, SHA256: sha}
	}
	base := []File{
		file(KindRecord, sum("r"), 600), file(KindSignature, sum("s"), 140),
		file(KindUSR, sum("1"), 4096), file(KindKernel, sum("2"), 10), file(KindInitramfs, sum("3"), 20),
	}
	with := func(fs ...File) []File { return append(append([]File{}, base...), fs...) }
	// An Omaha answer: record and signature by position, the rest by hash.
	unnamed := []File{base[0], base[1], file("", sum("3"), 20), file("", sum("1"), 4096), file("", sum("2"), 10)}
	tests := []struct {
		name  string
		rec   *sign.Record
		files []File
		req   Require
		want  error
	}{
		{"plain", plain, base, RequireAll, nil},
		{"kinds from hashes", plain, unnamed, RequireBase, nil},
		{"secure, both UKIs", &secure, with(file("uki-a", sum("a"), 5), file("uki-b", sum("b"), 5)), RequireAll, nil},
		{"secure, agent without UKIs", &secure, base, RequireBase, nil},
		{"kind the record does not name", plain, with(file("extra", sum("e"), 5)), RequireBase, ErrNotVouched},
		{"UKI of a record without UKIs", plain, with(file("uki-a", sum("a"), 5)), RequireAll, ErrNotVouched},
		{"unnamed file of another hash", plain, append(unnamed, file("", sum("e"), 5)), RequireBase, ErrNotVouched},
		{"wrong sha256", plain, []File{base[0], base[1], file(KindUSR, sum("9"), 4096), base[3], base[4]}, RequireBase, ErrWrongSHA256},
		{"kernel's bytes as usr", plain, []File{base[0], base[1], file(KindUSR, sum("2"), 4096), base[3], base[4]}, RequireBase, ErrWrongSHA256},
		{"UKI swapped", &secure, with(file("uki-a", sum("b"), 5), file("uki-b", sum("b"), 5)), RequireAll, ErrWrongSHA256},
		{"no initramfs", plain, base[:4], RequireBase, ErrMissing},
		{"secure, release without uki-b", &secure, with(file("uki-a", sum("a"), 5)), RequireAll, ErrMissing},
		{"usr size", plain, []File{base[0], base[1], file(KindUSR, sum("1"), 4095), base[3], base[4]}, RequireBase, ErrUSRSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Vouched(tt.rec, tt.files, tt.req)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			for kind, sha := range Named(tt.rec) {
				if f, ok := got[kind]; ok && (f.Kind != kind || f.SHA256 != sha) {
					t.Errorf("%s: %+v", kind, f)
				}
			}
			if got[KindRecord] != base[0] || got[KindSignature] != base[1] {
				t.Errorf("record and signature: %+v %+v", got[KindRecord], got[KindSignature])
			}
		})
	}
}
