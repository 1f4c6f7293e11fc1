package kernel

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// synthetic builds an index by hand: name -> depends, softdep pre.
func synthetic(mods map[string][2][]string, builtin ...string) *Kernel {
	idx := &index{modules: map[string]*moduleInfo{}, aliases: map[string][]string{},
		builtin: map[string]bool{}, builtinAlias: map[string]bool{}}
	for n, d := range mods {
		idx.modules[n] = &moduleInfo{name: n, path: "/m/" + n + ".ko", relPath: n + ".ko", depends: d[0], softPre: d[1]}
	}
	for _, b := range builtin {
		idx.builtin[b] = true
	}
	k := &Kernel{ModulesDir: "/m"}
	k.indexOnce.Do(func() { k.idx = idx })
	return k
}

func TestCloserSynthetic(t *testing.T) {
	type deps = [2][]string
	tests := []struct {
		name    string
		mods    map[string]deps
		builtin []string
		request []string
		want    []string
		wantErr string
	}{
		{"chain", map[string]deps{"a": {{"b"}, nil}, "b": {{"c"}, nil}, "c": {}},
			nil, []string{"a"}, []string{"c", "b", "a"}, ""},
		{"diamond once", map[string]deps{"a": {{"b", "c"}, nil}, "b": {{"d"}, nil}, "c": {{"d"}, nil}, "d": {}},
			nil, []string{"a", "b"}, []string{"d", "b", "c", "a"}, ""},
		{"softdep first", map[string]deps{"a": {{"b"}, {"s"}}, "b": {}, "s": {}},
			nil, []string{"a"}, []string{"s", "b", "a"}, ""},
		{"missing softdep ignored", map[string]deps{"a": {nil, {"gone"}}},
			nil, []string{"a"}, []string{"a"}, ""},
		{"softdep loop ignored", map[string]deps{"a": {nil, {"b"}}, "b": {nil, {"a"}}},
			nil, []string{"a"}, []string{"b", "a"}, ""},
		{"builtin dep skipped", map[string]deps{"a": {{"k"}, nil}},
			[]string{"k"}, []string{"a", "k"}, []string{"a"}, ""},
		{"dash request", map[string]deps{"dm_mod": {}},
			nil, []string{"dm-mod"}, []string{"dm_mod"}, ""},
		{"hard cycle", map[string]deps{"a": {{"b"}, nil}, "b": {{"a"}, nil}},
			nil, []string{"a"}, nil, "cycle"},
		{"missing depend", map[string]deps{"a": {{"gone"}, nil}},
			nil, []string{"a"}, nil, `unknown module "gone" (a dependency of a)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mods, err := synthetic(tc.mods, tc.builtin...).Closure(tc.request)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(mods); !slices.Equal(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnknownSuggestions(t *testing.T) {
	k := synthetic(map[string][2][]string{"virtio_blk": {}, "virtio_net": {}, "squashfs": {}})
	_, err := k.Closure([]string{"virtio-blck"})
	var ue *UnknownModuleError
	if !errors.As(err, &ue) || !slices.Contains(ue.Suggestions, "virtio_blk") || slices.Contains(ue.Suggestions, "squashfs") {
		t.Errorf("error %v: want a suggestion of virtio_blk only among close names", err)
	}
}

func TestSoftdepPre(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"pre: crc32c"}, []string{"crc32c"}},
		{[]string{"pre: a b-c post: d"}, []string{"a", "b_c"}},
		{[]string{"post: d pre: e"}, []string{"e"}},
		{[]string{"pre: x", "pre: y"}, []string{"x", "y"}},
		{[]string{"stray"}, nil},
	}
	for _, tc := range tests {
		if got := softdepPre(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("softdepPre(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseModinfo(t *testing.T) {
	m := parseModinfo([]byte("license=GPL\x00depends=reed_solomon,dm-mod\x00alias=a\x00alias=b\x00\x00name=dm_verity\x00"))
	if m.first("name") != "dm_verity" || !slices.Equal(m["alias"], []string{"a", "b"}) ||
		!slices.Equal(splitList(m.first("depends")), []string{"reed_solomon", "dm_mod"}) {
		t.Errorf("parsed %v", m)
	}
}
