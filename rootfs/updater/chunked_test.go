package updater

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/httpcount"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// installCounted installs what the machine's repository offers over
// HTTP, checks that the passive USR is v2's, and returns what was sent.
func installCounted(t *testing.T, m *machine, v2 *release) *httpcount.Handler {
	t.Helper()
	c := httpcount.New(http.FileServer(http.Dir(m.repo)))
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	installed, err := m.a.CheckStatic(context.Background(), Source{URL: srv.URL + "/"}, "stable")
	if err != nil || !installed {
		t.Fatalf("CheckStatic = %v, %v", installed, err)
	}
	if got := m.passiveUSR(v2.rec.USRSize); !bytes.Equal(got, v2.files[repo.KindUSR]) {
		t.Fatal("passive USR is not v2's")
	}
	return c
}

// setUSR gives a release this USR content.
func (r *release) setUSR(usr []byte) {
	r.files[repo.KindUSR] = usr
	r.rec.USR, r.rec.USRSize = sum(usr), int64(len(usr))
}

// chunkedMachine is a machine whose booted USR-A holds v1's USR (3 MiB
// of random bytes), and a v2 whose USR differs from it in 100 KiB in
// the middle, published with chunks.
func chunkedMachine(t *testing.T) (*machine, *release) {
	m := newMachine(t)
	v1usr := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(v1usr)
	e, _, err := m.a.partition("a")
	if err != nil {
		t.Fatal(err)
	}
	off, _ := m.a.partitionBytes(e)
	d, err := os.OpenFile(m.a.Disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAt(v1usr, off); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// The booted record must size USR-A's content.
	v1 := newRelease("1.0.0", 1<<20)
	v1.setUSR(v1usr)
	sigA, err := sign.Sign(v1.rec, m.priv)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(m.a.ESP, contract.RecordPath("a")), v1.rec.Canonical())
	writeFile(t, filepath.Join(m.a.ESP, contract.SigPath("a")), sigA)

	v2 := newRelease("2.0.0", 1<<20)
	v2usr := append([]byte{}, v1usr...)
	rand.New(rand.NewSource(2)).Read(v2usr[1<<20 : 1<<20+100<<10])
	v2.setUSR(v2usr)
	// The kernel is the booted one: it comes from the ESP, not the wire.
	v2.files[repo.KindKernel] = v1.files[repo.KindKernel]
	v2.rec.Kernel = v1.rec.Kernel
	p := m.publish(v2, "stable", m.priv)
	for _, f := range p.Files {
		if f.Kind == repo.KindRecord || f.Kind == repo.KindSignature {
			continue
		}
		if _, _, err := chunks.Store(m.repo, filepath.Join(m.repo, filepath.FromSlash(f.Path)), m.priv); err != nil {
			t.Fatal(err)
		}
	}
	return m, v2
}

func (m *machine) passiveUSR(size int64) []byte {
	m.t.Helper()
	e, _, err := m.a.partition(m.a.Passive())
	if err != nil {
		m.t.Fatal(err)
	}
	off, _ := m.a.partitionBytes(e)
	d, err := os.Open(m.a.Disk)
	if err != nil {
		m.t.Fatal(err)
	}
	defer d.Close()
	b := make([]byte, size)
	if _, err := d.ReadAt(b, off); err != nil {
		m.t.Fatal(err)
	}
	return b
}

// TestChunkedUpdate: v1 -> v2 downloads only the chunks of USR that
// changed and none of the kernel, and the passive slot gets v2 whole.
func TestChunkedUpdate(t *testing.T) {
	m, v2 := chunkedMachine(t)
	c := installCounted(t, m, v2)
	if n := c.Total("/objects/"); n > 4096 {
		t.Errorf("%d bytes of whole objects sent, want only the record and signature", n)
	}
	got := c.Total("/chunks/") - c.Total("/chunks/index/")
	if limit := int64(100<<10 + 2*chunks.MaxSize); got == 0 || got > limit {
		t.Errorf("%d bytes of chunks sent for a 100 KiB change, want 1..%d", got, limit)
	}
	t.Logf("USR %d bytes: %d bytes of chunks, %d of indexes", v2.rec.USRSize, got, c.Total("/chunks/index/"))
}

// TestChunkedFallback: a corrupted chunk, a missing index or an index
// signed by another key send the agent to the whole file, and the
// update still installs.
func TestChunkedFallback(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spoil func(t *testing.T, m *machine, v2 *release)
	}{
		{"corrupted chunk", func(t *testing.T, m *machine, v2 *release) {
			x := readTestIndex(t, m, v2.rec.USR)
			// The changed region's chunk: the one not in v1's USR.
			var off int64
			for _, c := range x.Chunks {
				if off+c.Size > 1<<20 {
					p := filepath.Join(m.repo, filepath.FromSlash(chunks.ChunkPath(c.SHA256)))
					data, _ := os.ReadFile(p)
					data[0] ^= 1
					writeFile(t, p, data)
					return
				}
				off += c.Size
			}
		}},
		{"no index", func(t *testing.T, m *machine, v2 *release) {
			os.Remove(filepath.Join(m.repo, filepath.FromSlash(chunks.IndexPath(v2.rec.USR))))
		}},
		{"index of another key", func(t *testing.T, m *machine, v2 *release) {
			_, other := keyPair(t)
			p := filepath.Join(m.repo, filepath.FromSlash(chunks.IndexPath(v2.rec.USR)))
			data, _ := os.ReadFile(p)
			sig, err := chunks.Sign(data, other)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p+".sig", sig)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, v2 := chunkedMachine(t)
			tt.spoil(t, m, v2)
			c := installCounted(t, m, v2)
			if n := c.Total("/" + repo.ObjectPath(v2.rec.USR)); n != v2.rec.USRSize {
				t.Errorf("whole USR object: %d bytes sent, want %d", n, v2.rec.USRSize)
			}
		})
	}
}

func readTestIndex(t *testing.T, m *machine, fileSHA string) *chunks.Index {
	t.Helper()
	p := filepath.Join(m.repo, filepath.FromSlash(chunks.IndexPath(fileSHA)))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile(p + ".sig")
	st, _ := os.Stat(filepath.Join(m.repo, filepath.FromSlash(repo.ObjectPath(fileSHA))))
	x, err := chunks.Verify(data, sig, []ed25519.PublicKey{m.pub}, fileSHA, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return x
}
