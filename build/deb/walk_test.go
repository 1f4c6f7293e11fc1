package deb

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// listing renders an entry as dpkg-deb -c does, without owner and date.
func listing(h *tar.Header) string {
	line := modeString(h) + " " + itoa(h.Size) + " " + h.Name
	switch h.Typeflag {
	case tar.TypeSymlink:
		line += " -> " + h.Linkname
	case tar.TypeLink:
		line += " link to " + h.Linkname
	}
	return line
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func modeString(h *tar.Header) string {
	kinds := map[byte]byte{tar.TypeDir: 'd', tar.TypeSymlink: 'l', tar.TypeLink: 'h', tar.TypeReg: '-'}
	b := []byte{kinds[h.Typeflag]}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if h.Mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	special := func(bit int64, pos int, set, unset byte) {
		if h.Mode&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// dpkgListing parses `dpkg-deb -c`: mode owner size date time name...
func dpkgListing(t *testing.T, debPath string) []string {
	t.Helper()
	out := mustRun(t, "", "dpkg-deb", "-c", debPath)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("unexpected dpkg-deb line %q", l)
		}
		lines = append(lines, f[0]+" "+f[2]+" "+strings.Join(f[5:], " "))
	}
	return lines
}

func walkListing(t *testing.T, debPath string) []string {
	t.Helper()
	var lines []string
	err := Walk(debPath, func(h *tar.Header, r io.Reader) error {
		lines = append(lines, listing(h))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestWalkMatchesDpkgDeb(t *testing.T) {
	tree := sampleTree(t)
	for _, comp := range []string{"xz", "zstd", "gzip", ""} {
		t.Run("compressor="+comp, func(t *testing.T) {
			deb := buildDeb(t, tree, comp)
			got, want := walkListing(t, deb), dpkgListing(t, deb)
			if !slices.Equal(got, want) {
				t.Errorf("Walk listing differs from dpkg-deb -c\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// TestWalkContent checks that Walk hands out each file's bytes, against
// dpkg-deb --fsys-tarfile | tar -xO.
func TestWalkContent(t *testing.T) {
	deb := buildDeb(t, sampleTree(t), "xz")
	sums := map[string]string{}
	err := Walk(deb, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		hs := sha256.New()
		io.Copy(hs, r)
		sums[h.Name] = hex.EncodeToString(hs.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) == 0 {
		t.Fatal("no regular files walked")
	}
	for name, sum := range sums {
		cmd := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" | sha256sum`, "sh", deb, name)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := strings.Fields(string(out))[0]; want != sum {
			t.Errorf("%s: sha256 %s, dpkg-deb says %s", name, sum, want)
		}
	}
}

func TestWalkRejectsNonDeb(t *testing.T) {
	p := t.TempDir() + "/x.deb"
	os.WriteFile(p, []byte("not an archive"), 0o644)
	if err := Walk(p, func(*tar.Header, io.Reader) error { return nil }); err == nil {
		t.Fatal("Walk accepted a file that is not an ar archive")
	}
}

func TestWalkSkipAll(t *testing.T) {
	deb := buildDeb(t, sampleTree(t), "xz")
	seen := 0
	err := Walk(deb, func(*tar.Header, io.Reader) error {
		seen++
		return fs.SkipAll
	})
	if err != nil || seen != 1 {
		t.Errorf("Walk with fs.SkipAll: err %v after %d entries, want nil after 1", err, seen)
	}
}
