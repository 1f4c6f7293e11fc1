package chunks

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolIrreducible(t *testing.T) {
	if !pol.Irreducible() {
		t.Fatalf("polynomial %v is not irreducible", pol)
	}
}

func random(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func split(t *testing.T, data []byte) []Chunk {
	t.Helper()
	var out []Chunk
	if err := Split(bytes.NewReader(data), func(c Chunk, _ []byte) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSplitSurvivesInsertion is why the chunks are content-defined: a
// region that grows in the middle of a file leaves the chunks after it
// as they were, though every byte after it moved.
func TestSplitSurvivesInsertion(t *testing.T) {
	old := random(1, 8<<20)
	changed := append(append(append([]byte{}, old[:3<<20]...), random(2, 300<<10)...), old[3<<20+1000:]...)
	a, b := split(t, old), split(t, changed)
	have := map[string]bool{}
	for _, c := range a {
		have[c.SHA256] = true
	}
	var newBytes, total int64
	for _, c := range b {
		total += c.Size
		if !have[c.SHA256] {
			newBytes += c.Size
		}
	}
	if total != int64(len(changed)) {
		t.Fatalf("chunks add up to %d bytes, want %d", total, len(changed))
	}
	// 300 KiB new plus the chunks at its two edges (MaxSize each at worst).
	if limit := int64(300<<10 + 2*MaxSize); newBytes > limit {
		t.Errorf("%d new bytes in chunks after a 300 KiB insertion, want at most %d", newBytes, limit)
	}
	if len(a) < (8<<20)/MaxSize || len(a) > (8<<20)/MinSize {
		t.Errorf("%d chunks of 8 MiB: outside the bounds", len(a))
	}
}

func storeFile(t testing.TB, root string, data []byte, key ed25519.PrivateKey) (*Index, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	x, _, err := Store(root, p, key)
	if err != nil {
		t.Fatal(err)
	}
	return x, p
}

func readIndex(t testing.TB, root string, x *Index, pub ed25519.PublicKey) (*Index, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, IndexPath(x.SHA256)))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(root, IndexPath(x.SHA256)+".sig"))
	if err != nil {
		t.Fatal(err)
	}
	return Verify(data, sig, []ed25519.PublicKey{pub}, x.SHA256, x.Size)
}

func dirFetch(root string, served *int64) Fetch {
	return func(_ context.Context, rel string) (io.ReadCloser, error) {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		atomic.AddInt64(served, int64(len(data)))
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

// TestAssembleFetchesOnlyNew stores v1 and v2 of a file, seeds with v1
// and checks that v2 comes out whole while only its new chunks are
// fetched.
func TestAssembleFetchesOnlyNew(t *testing.T) {
	pub, priv := testKey(t)
	root := t.TempDir()
	v1 := random(3, 4<<20)
	v2 := append(append(append([]byte{}, v1[:1<<20]...), random(4, 100<<10)...), v1[1<<20:]...)
	storeFile(t, root, v1, priv)
	x2, _ := storeFile(t, root, v2, priv)
	x, err := readIndex(t, root, x2, pub)
	if err != nil {
		t.Fatal(err)
	}
	seed := NewSeed()
	if err := seed.Add("v1", bytes.NewReader(v1), int64(len(v1))); err != nil {
		t.Fatal(err)
	}
	var served int64
	var out bytes.Buffer
	st, err := Assemble(context.Background(), x, seed, dirFetch(root, &served), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), v2) {
		t.Fatal("assembled file differs from v2")
	}
	if st.FetchedBytes != served || served == 0 || served > 100<<10+2*MaxSize {
		t.Errorf("fetched %d bytes (served %d) for a 100 KiB change", st.FetchedBytes, served)
	}
	if st.SeededBytes+st.FetchedBytes != int64(len(v2)) {
		t.Errorf("seeded %d + fetched %d != %d", st.SeededBytes, st.FetchedBytes, len(v2))
	}
	// Without a seed every chunk is fetched.
	served = 0
	out.Reset()
	if _, err := Assemble(context.Background(), x, nil, dirFetch(root, &served), &out); err != nil || served != int64(len(v2)) {
		t.Errorf("without a seed: served %d of %d bytes, %v", served, len(v2), err)
	}
}

// TestAssembleRefusesBadChunk corrupts a stored chunk: assembly stops
// with ErrChunk (the agent then fetches the whole file).
func TestAssembleRefusesBadChunk(t *testing.T) {
	pub, priv := testKey(t)
	root := t.TempDir()
	x, _ := storeFile(t, root, random(5, 1<<20), priv)
	p := filepath.Join(root, ChunkPath(x.Chunks[2].SHA256))
	data, _ := os.ReadFile(p)
	data[10] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	x, err := readIndex(t, root, x, pub)
	if err != nil {
		t.Fatal(err)
	}
	var served int64
	_, err = Assemble(context.Background(), x, nil, dirFetch(root, &served), io.Discard)
	if !errors.Is(err, ErrChunk) {
		t.Fatalf("corrupted chunk: %v, want ErrChunk", err)
	}
	// A chunk cut short is refused the same way.
	if err := os.WriteFile(p, data[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = Assemble(context.Background(), x, nil, dirFetch(root, &served), io.Discard); !errors.Is(err, ErrChunk) {
		t.Fatalf("short chunk: %v, want ErrChunk", err)
	}
}

// TestSeedRecheck: a seed whose bytes changed after Add is not trusted.
func TestSeedRecheck(t *testing.T) {
	_, priv := testKey(t)
	root := t.TempDir()
	v := random(6, 512<<10)
	x, _ := storeFile(t, root, v, priv)
	local := append([]byte{}, v...)
	seed := NewSeed()
	if err := seed.Add("local", bytes.NewReader(local), int64(len(local))); err != nil {
		t.Fatal(err)
	}
	local[0] ^= 1 // the seed's file changed under it
	var served int64
	var out bytes.Buffer
	if _, err := Assemble(context.Background(), x, seed, dirFetch(root, &served), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), v) || served != x.Chunks[0].Size {
		t.Errorf("served %d bytes, want the first chunk's %d; equal %v", served, x.Chunks[0].Size, bytes.Equal(out.Bytes(), v))
	}
}

func TestVerifyRefuses(t *testing.T) {
	pub, priv := testKey(t)
	other, _, _ := ed25519.GenerateKey(rand.New(rand.NewSource(2)))
	good := &Index{Format: IndexFormat, SHA256: strings.Repeat("a", 64), Size: 10,
		Chunks: []Chunk{{SHA256: strings.Repeat("b", 64), Size: 4}, {SHA256: strings.Repeat("c", 64), Size: 6}}}
	mod := func(f func(x *Index)) *Index {
		x := *good
		x.Chunks = append([]Chunk{}, good.Chunks...)
		f(&x)
		return &x
	}
	for _, tt := range []struct {
		name string
		x    *Index
		keys []ed25519.PublicKey
		want string
	}{
		{"good", good, []ed25519.PublicKey{pub}, ""},
		{"other key", good, []ed25519.PublicKey{other}, "index of"},
		{"format", mod(func(x *Index) { x.Format = "imgbuild-chunks/2" }), []ed25519.PublicKey{pub}, "format"},
		{"other file", mod(func(x *Index) { x.SHA256 = strings.Repeat("d", 64) }), []ed25519.PublicKey{pub}, "describes"},
		{"sum", mod(func(x *Index) { x.Chunks[1].Size = 5 }), []ed25519.PublicKey{pub}, "add up"},
		{"big chunk", mod(func(x *Index) { x.Chunks[0].Size = MaxSize + 1 }), []ed25519.PublicKey{pub}, "outside"},
		{"empty chunk", mod(func(x *Index) { x.Chunks[0].Size = 0; x.Chunks[1].Size = 10 }), []ed25519.PublicKey{pub}, "outside"},
		{"hex", mod(func(x *Index) { x.Chunks[0].SHA256 = strings.Repeat("B", 64) }), []ed25519.PublicKey{pub}, "hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.x.Marshal()
			sig, err := Sign(data, priv)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Verify(data, sig, tt.keys, good.SHA256, good.Size)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// slowFetch serves root's chunks after a delay, as a distant server
// would, and records how many requests were open at once.
func slowFetch(root string, delay time.Duration, open, most *int64, fail string) Fetch {
	return func(ctx context.Context, rel string) (io.ReadCloser, error) {
		n := atomic.AddInt64(open, 1)
		defer atomic.AddInt64(open, -1)
		for {
			m := atomic.LoadInt64(most)
			if n <= m || atomic.CompareAndSwapInt64(most, m, n) {
				break
			}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if rel == fail {
			return nil, errors.New("503")
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

// TestAssembleParallel: chunks are downloaded Parallel at a time yet
// written in order, and a failing one stops every download.
func TestAssembleParallel(t *testing.T) {
	pub, priv := testKey(t)
	root := t.TempDir()
	v := random(6, 2<<20)
	x0, _ := storeFile(t, root, v, priv)
	x, err := readIndex(t, root, x0, pub)
	if err != nil {
		t.Fatal(err)
	}
	var open, most int64
	var out bytes.Buffer
	st, err := Assemble(context.Background(), x, nil, slowFetch(root, 5*time.Millisecond, &open, &most, ""), &out)
	if err != nil || !bytes.Equal(out.Bytes(), v) || st.Fetched != len(x.Chunks) {
		t.Fatalf("assembled %d bytes, %+v, %v; want the file from %d chunks", out.Len(), st, err, len(x.Chunks))
	}
	if most < 2 || most > int64(Parallel) {
		t.Errorf("%d requests open at most; want 2 to %d", most, Parallel)
	}
	open, most = 0, 0
	bad := ChunkPath(x.Chunks[len(x.Chunks)/2].SHA256)
	if _, err := Assemble(context.Background(), x, nil, slowFetch(root, 5*time.Millisecond, &open, &most, bad), io.Discard); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a failing chunk: %v", err)
	}
	if n := atomic.LoadInt64(&open); n != 0 {
		t.Errorf("%d downloads still open after Assemble returned", n)
	}
}

// BenchmarkAssembleLatency assembles a 4 MiB file with no seed from a
// server 2 ms away, one download at a time against Parallel at once.
func BenchmarkAssembleLatency(b *testing.B) {
	pub, priv := testKey(b)
	root := b.TempDir()
	x0, _ := storeFile(b, root, random(7, 4<<20), priv)
	x, err := readIndex(b, root, x0, pub)
	if err != nil {
		b.Fatal(err)
	}
	for _, par := range []int{1, Parallel} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			defer func(p int) { Parallel = p }(Parallel)
			Parallel = par
			var open, most int64
			b.SetBytes(x.Size)
			for b.Loop() {
				if _, err := Assemble(context.Background(), x, nil, slowFetch(root, 2*time.Millisecond, &open, &most, ""), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
