package qemutests

import (
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/httpcount"
	"github.com/imgbuild/imgbuild/qemu"
	"github.com/imgbuild/imgbuild/qemu/vmtest"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/chunks"
	"github.com/imgbuild/imgbuild/update/repo"
)

// TestChunkedUpdate boots v1 following a static repository that v2 was
// released to with imgbuild release, which stores each payload file's
// chunks and signed index. The agent must assemble v2 from USR-A, the
// ESP and the chunks it lacks: the server counts the bytes it sends, and
// USR-B must hold v2's usr exactly. Then the same with one of the chunks
// it must download corrupted in the repository: the agent refuses it and
// fetches the whole usr, and the update still installs.
func TestChunkedUpdate(t *testing.T) {
	skipShort(t)
	u := buildUpdateImages(t, updateSpec{server: staticServer, channel: "stable"})
	raw, err := os.ReadFile(artifact(t, u.v2, "release"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sign.ParseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, spoil func(root string)) (*httpcount.Handler, string) {
		root := t.TempDir()
		u.release(t, root, "stable", u.v2)
		if spoil != nil {
			spoil(root)
		}
		c := httpcount.New(http.FileServer(http.Dir(root)))
		srv := serve(t, root, c)
		img := diskCopy(t, u.v1)
		v := vmtest.Start(t, qemu.Config{Disk: img, Vars: filepath.Join(t.TempDir(), "vars.fd"), MemoryMiB: 512,
			AllowReboot: true, GuestFwds: []string{guestFwd(t, srv.addr)}})
		i, line := v.Expect(0, `\[imgbuild-agent\] (assembled usr from|usr by chunks:) [^\r\n]*`, 8*time.Minute)
		v.Expect(i, `\[imgbuild-agent\] installed 2.0.0 into slot b`, 5*time.Minute)
		v.Kill()
		<-v.Done()
		if got := usrSHA256(t, img, "b", rec.USRSize); got != rec.USR {
			t.Errorf("USR-B holds sha256 %s, v2's usr is %s", got, rec.USR)
		}
		t.Logf("agent: %s", strings.TrimSpace(line))
		return c, line
	}

	t.Run("changed chunks only", func(t *testing.T) {
		c, line := run(t, nil)
		if !strings.Contains(line, "assembled usr") {
			t.Fatalf("usr was not assembled from chunks: %s", line)
		}
		objects, index := c.Total("/objects/"), c.Total("/chunks/index/")
		fetched := c.Total("/chunks/") - index
		// Whole objects: the record and its signature only.
		if objects > 4096 {
			t.Errorf("%d bytes of whole objects sent, want only the record and signature", objects)
		}
		if fetched == 0 || fetched > rec.USRSize/4 {
			t.Errorf("%d bytes of chunks sent for a usr of %d bytes, want some and at most a quarter", fetched, rec.USRSize)
		}
		t.Logf("v1 -> v2: %d bytes of chunks + %d of indexes + %d of record and signature, against %d of usr alone whole",
			fetched, index, objects, rec.USRSize)
	})

	t.Run("corrupted chunk", func(t *testing.T) {
		c, line := run(t, func(root string) {
			corruptNewChunk(t, root, artifact(t, u.v1, "usr"), rec.USR, mustPublic(t, u.key.pub))
		})
		if !strings.Contains(line, "does not match its index") || !strings.Contains(line, "fetching the whole file") {
			t.Errorf("agent on a corrupted chunk: %s", line)
		}
		if got := c.Total("/" + repo.ObjectPath(rec.USR)); got != rec.USRSize {
			t.Errorf("whole usr: %d bytes sent, want %d", got, rec.USRSize)
		}
	})
}

// corruptNewChunk flips a byte of the first chunk of the file usrSHA's
// index that oldUSR lacks: one the agent must download.
func corruptNewChunk(t *testing.T, root, oldUSR, usrSHA string, pub ed25519.PublicKey) {
	t.Helper()
	have := map[string]bool{}
	f, err := os.Open(oldUSR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := chunks.Split(f, func(c chunks.Chunk, _ []byte) error { have[c.SHA256] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, filepath.FromSlash(chunks.IndexPath(usrSHA)))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(p + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, filepath.FromSlash(repo.ObjectPath(usrSHA))))
	if err != nil {
		t.Fatal(err)
	}
	x, err := chunks.Verify(data, sig, []ed25519.PublicKey{pub}, usrSHA, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range x.Chunks {
		if have[c.SHA256] {
			continue
		}
		cp := filepath.Join(root, filepath.FromSlash(chunks.ChunkPath(c.SHA256)))
		b, err := os.ReadFile(cp)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(cp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("v2's usr has no chunk that v1's lacks")
}
