package ignition

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_5/types"
)

// supportedFields are the config's fields imgbuild applies, with list
// indices written as *. A field set in a config and not listed here (nor
// below a listed leaf) is refused by its path. Listing fields, rather
// than refusing known unsupported ones, means a field a later Ignition
// adds is refused until someone decides what it means here.
var supportedFields = setOf(
	"ignition", "ignition.version",
	"passwd", "passwd.users", "passwd.users.*",
	"passwd.users.*.name", "passwd.users.*.sshAuthorizedKeys",
	"storage",
	"storage.files", "storage.files.*", "storage.files.*.mode",
	"storage.files.*.contents", "storage.files.*.contents.source",
	"storage.files.*.contents.verification", "storage.files.*.contents.verification.hash",
	"storage.directories", "storage.directories.*", "storage.directories.*.mode",
	"storage.links", "storage.links.*", "storage.links.*.target", "storage.links.*.hard",
)

// nodeFields are every storage node's common fields.
var nodeFields = []string{"path", "overwrite", "user", "user.id", "user.name", "group", "group.id", "group.name"}

func init() {
	for _, kind := range []string{"files", "directories", "links"} {
		for _, f := range nodeFields {
			supportedFields["storage."+kind+".*."+f] = true
		}
	}
}

func setOf(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// unsupported walks the parsed config and names every set field that is
// not supported, at the outermost such field ($.storage.disks, not each
// disk's device).
func unsupported(cfg types.Config) []Problem {
	var out []Problem
	walk(reflect.ValueOf(cfg), nil, nil, &out)
	return out
}

func walk(v reflect.Value, path, pattern []string, out *[]Problem) {
	switch v.Kind() {
	case reflect.Struct:
		walkStruct(v, path, pattern, out)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return // a list of strings: the field itself was allowed
		}
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), append(path, fmt.Sprint(i)), append(pattern, "*"), out)
		}
	}
}

func walkStruct(v reflect.Value, path, pattern []string, out *[]Problem) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if f.Anonymous {
			walk(fv, path, pattern, out) // Node, FileEmbedded1, ...: flattened in JSON
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || fv.IsZero() {
			continue
		}
		p, pat := append(clone(path), name), append(clone(pattern), name)
		if !supportedFields[strings.Join(pat, ".")] {
			*out = append(*out, Problem{Path: "$." + strings.Join(p, "."), Message: "not supported by imgbuild images"})
			continue
		}
		for fv.Kind() == reflect.Pointer {
			fv = fv.Elem()
		}
		walk(fv, p, pat, out)
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

// notOnRoot are the places a config cannot write to: USR is read-only
// and verified, the rest are kernel or tmpfs mounts that a reboot clears.
var notOnRoot = []string{"/usr", "/proc", "/sys", "/dev", "/run", "/tmp"}

// checkSupported checks what Ignition allows but imgbuild cannot do.
func checkSupported(cfg types.Config) []Problem {
	var out []Problem
	add := func(path, format string, args ...any) {
		out = append(out, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	checkPath := func(at, p string) {
		for _, bad := range notOnRoot {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				add(at, "%s is not on ROOT (%s is read-only or not kept across boots)", p, bad)
			}
		}
		if p == "/" {
			add(at, "cannot replace /")
		}
	}
	for i, f := range cfg.Storage.Files {
		at := fmt.Sprintf("$.storage.files.%d", i)
		checkPath(at+".path", f.Path)
		checkSource(at+".contents", f.Contents, add)
	}
	for i, d := range cfg.Storage.Directories {
		checkPath(fmt.Sprintf("$.storage.directories.%d.path", i), d.Path)
	}
	for i, l := range cfg.Storage.Links {
		checkPath(fmt.Sprintf("$.storage.links.%d.path", i), l.Path)
	}
	return out
}

// checkSource allows data: URLs and http(s) with a hash: a machine must
// not run what a network path could have changed.
func checkSource(at string, r types.Resource, add func(string, string, ...any)) {
	if r.Source == nil || *r.Source == "" {
		return
	}
	u, err := url.Parse(*r.Source)
	if err != nil {
		add(at+".source", "%v", err)
		return
	}
	switch u.Scheme {
	case "data":
	case "http", "https":
		if r.Verification.Hash == nil {
			add(at+".verification.hash", "required for an %s source", u.Scheme)
		}
	default:
		add(at+".source", "scheme %q not supported by imgbuild images (data, http, https)", u.Scheme)
	}
}
