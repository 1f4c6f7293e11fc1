package verity

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// veritysetup runs the reference tool; a missing tool fails the test,
// since CI installs it.
func veritysetup(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("veritysetup"); err != nil {
		t.Fatalf("veritysetup (cryptsetup-bin) is needed as the reference for these tests: %v", err)
	}
	out, err := exec.Command("veritysetup", args...).CombinedOutput()
	return string(out), err
}

var rootHashLine = regexp.MustCompile(`(?m)^Root hash:\s*([0-9a-f]+)$`)

// veritysetupFormat formats path in place (data then hash area at
// dataSize, as Build lays it out) and returns the root hash.
func veritysetupFormat(t testing.TB, path string, dataSize int64, salt []byte, uuid string) []byte {
	t.Helper()
	args := []string{"format", "--hash-offset=" + fmt.Sprint(dataSize),
		"--data-blocks=" + fmt.Sprint(dataSize/BlockSize),
		"--data-block-size=4096", "--hash-block-size=4096", "--hash=sha256", "--format=1",
		"--salt=" + saltArg(salt)}
	if uuid == "" {
		args = append(args, "--no-superblock")
	} else {
		args = append(args, "--uuid="+uuid)
	}
	out, err := veritysetup(t, append(args, path, path)...)
	if err != nil {
		t.Fatalf("veritysetup format: %v\n%s", err, out)
	}
	m := rootHashLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("veritysetup format printed no root hash:\n%s", out)
	}
	root, _ := hex.DecodeString(m[1])
	return root
}

func saltArg(salt []byte) string {
	if len(salt) == 0 {
		return "-"
	}
	return hex.EncodeToString(salt)
}

func veritysetupVerify(t testing.TB, path string, p *Params) (string, error) {
	t.Helper()
	args := []string{"verify", "--hash-offset=" + fmt.Sprint(p.HashOffset)}
	if p.NoSuperblock {
		args = append(args, "--no-superblock", "--data-blocks="+fmt.Sprint(p.DataBlocks),
			"--data-block-size=4096", "--hash-block-size=4096", "--hash=sha256", "--format=1",
			"--salt="+saltArg(p.Salt))
	}
	return veritysetup(t, append(args, path, path, hex.EncodeToString(p.RootHash))...)
}

// writeRandom writes blocks random data blocks (seeded by blocks, so a
// failure reproduces) to a new file in dir.
func writeRandom(t testing.TB, dir, name string, blocks int64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(blocks), 42))
	data := make([]byte, blocks*BlockSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func buildFile(t testing.TB, path string, dataSize int64, salt []byte, uuid string, workers int) *Params {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Build(f, dataSize, f, dataSize, salt, uuid, workers)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

func TestBuildMatchesVeritysetup(t *testing.T) {
	salt := bytes.Repeat([]byte{0x5a, 0xc3}, 16)
	const uuid = "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
	tests := []struct {
		blocks  int64
		salt    []byte
		uuid    string
		workers int
	}{
		{1, salt, uuid, 0},
		{1, salt, "", 0},
		{127, salt, uuid, 1},
		{128, salt, uuid, 0},
		{129, salt, uuid, 2},
		{129, nil, uuid, 0},
		{129, salt, "", 0},
		{1000, salt, uuid, 3},
		{1000, []byte{1, 2, 3}, "", 0},
		{16384, salt, uuid, 0},     // 64 MiB: exactly one top block over 128 bottom blocks
		{16384 + 1, salt, uuid, 0}, // three levels
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%dblocks/salt%d/sb=%v/workers%d", tt.blocks, len(tt.salt), tt.uuid != "", tt.workers)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dataSize := tt.blocks * BlockSize
			ours := writeRandom(t, dir, "ours.img", tt.blocks)
			ref := filepath.Join(dir, "ref.img")
			copyFile(t, ours, ref)

			wantRoot := veritysetupFormat(t, ref, dataSize, tt.salt, tt.uuid)
			p := buildFile(t, ours, dataSize, tt.salt, tt.uuid, tt.workers)
			if !bytes.Equal(p.RootHash, wantRoot) {
				t.Errorf("root hash %x, veritysetup %x", p.RootHash, wantRoot)
			}
			got, _ := os.ReadFile(ours)
			want, _ := os.ReadFile(ref)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("image differs from veritysetup's at byte %d (hash area offset %d); sizes %d vs %d",
					i, int64(i)-dataSize, len(got), len(want))
			}
			area := int64(len(got)) - dataSize
			wantArea := HashAreaSize(dataSize)
			if tt.uuid == "" {
				wantArea -= BlockSize
			}
			if area != wantArea {
				t.Errorf("hash area is %d bytes, HashAreaSize says %d", area, wantArea)
			}
			if out, err := veritysetupVerify(t, ours, p); err != nil {
				t.Errorf("veritysetup verify rejects our tree: %v\n%s", err, out)
			}
			if err := Verify(mustOpen(t, ours), *p); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestSuperblockAgainstVeritysetup(t *testing.T) {
	dir := t.TempDir()
	const blocks = 300 // 3 bottom hash blocks + 1 top block
	salt := []byte{0xde, 0xad, 0xbe, 0xef}
	const uuid = "01234567-89ab-cdef-0123-456789abcdef"

	ref := writeRandom(t, dir, "ref.img", blocks)
	veritysetupFormat(t, ref, blocks*BlockSize, salt, uuid)
	p, err := ReadSuperblock(mustOpen(t, ref), blocks*BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if p.DataBlocks != blocks || !bytes.Equal(p.Salt, salt) || p.UUID != uuid || p.HashOffset != blocks*BlockSize {
		t.Errorf("ReadSuperblock of veritysetup's superblock = %+v", p)
	}

	ours := writeRandom(t, dir, "ours.img", blocks)
	buildFile(t, ours, blocks*BlockSize, salt, uuid, 0)
	out, err := veritysetup(t, "dump", "--hash-offset="+fmt.Sprint(blocks*BlockSize), ours)
	if err != nil {
		t.Fatalf("veritysetup dump of ours: %v\n%s", err, out)
	}
	for _, want := range []string{`UUID:\s+` + uuid, `Hash type:\s+1`, `Data blocks:\s+300`, `Hash blocks:\s+4`,
		`Hash algorithm:\s+sha256`, `Salt:\s+deadbeef`, `Data block size:\s+4096`, `Hash block size:\s+4096`} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(out) {
			t.Errorf("veritysetup dump of ours lacks %q:\n%s", want, out)
		}
	}
}
