package updater

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

const (
	testName = "minimal"
	usrSize  = 4 << 20 // each USR partition in the test disk
)

// machine is a fake machine: a disk image file with the CoreOS table,
// an ESP directory with slot A booted and marked good, a state dir.
type machine struct {
	t    *testing.T
	a    *Agent
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	repo string
	src  Source
}

func keyPair(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pubPath, privPath, err := sign.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.LoadPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := sign.LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// release makes the files of one release: USR content, kernel, initrd,
// and the signed record vouching for them.
type release struct {
	rec   sign.Record
	files map[string][]byte
}

func newRelease(ver string, usrBytes int) *release {
	usr := []byte(strings.Repeat("usr "+ver+" ", usrBytes/(len(ver)+5)+1))[:usrBytes]
	kernel := []byte("kernel " + ver)
	initrd := []byte("initrd " + ver)
	r := &release{files: map[string][]byte{repo.KindUSR: usr, repo.KindKernel: kernel, repo.KindInitramfs: initrd}}
	r.rec = sign.Record{Format: sign.RecordFormat, Name: testName, Version: ver, Arch: "amd64",
		Kernel: sum(kernel), Initramfs: sum(initrd), USR: sum(usr), USRSize: int64(len(usr)),
		VerityRoot: sum([]byte("root " + ver)), VeritySalt: strings.Repeat("e", 64), HashOffset: 4096, DataBlocks: 1}
	return r
}

// publish adds the release to the machine's repository on a channel.
func (m *machine) publish(r *release, channel string, key ed25519.PrivateKey, extra ...repo.File) repo.Payload {
	m.t.Helper()
	dir := m.t.TempDir()
	paths := map[string]string{}
	raw := r.rec.Canonical()
	sig, err := sign.Sign(r.rec, key)
	if err != nil {
		m.t.Fatal(err)
	}
	files := map[string][]byte{repo.KindRecord: raw, repo.KindSignature: sig}
	for k, v := range r.files {
		files[k] = v
	}
	for k, v := range files {
		p := filepath.Join(dir, k)
		if err := os.WriteFile(p, v, 0o644); err != nil {
			m.t.Fatal(err)
		}
		paths[k] = p
	}
	p, err := repo.AddPayload(m.repo, paths)
	if err != nil {
		m.t.Fatal(err)
	}
	p.Files = append(p.Files, extra...)
	if _, err := repo.Publish(m.repo, channel, p, m.priv, time.Now()); err != nil {
		m.t.Fatal(err)
	}
	return p
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	pub, priv := keyPair(t)
	root := t.TempDir()
	diskPath := filepath.Join(root, "disk.img")
	l := disk.CoreOS(testName, disk.Sizes{ESP: 1 << 20, USR: usrSize, OEM: 1 << 20, Root: 1 << 20}, disk.Contents{})
	if err := disk.Write(diskPath, l); err != nil {
		t.Fatal(err)
	}
	esp := filepath.Join(root, "esp")
	v1 := newRelease("1.0.0", 1<<20)
	writeFile(t, filepath.Join(esp, contract.RecordPath("a")), v1.rec.Canonical())
	sig, _ := sign.Sign(v1.rec, priv)
	writeFile(t, filepath.Join(esp, contract.SigPath("a")), sig)
	writeFile(t, filepath.Join(esp, contract.KernelPath("a")), v1.files[repo.KindKernel])
	writeFile(t, filepath.Join(esp, contract.InitrdPath("a")), v1.files[repo.KindInitramfs])
	writeFile(t, filepath.Join(esp, contract.EntryPath("a", -1)), []byte(bootedEntry(t, v1)))
	writeFile(t, filepath.Join(esp, contract.LoaderConf), []byte("timeout 0\n"))
	state := filepath.Join(root, "state")
	m := &machine{t: t, pub: pub, priv: priv, repo: filepath.Join(root, "repo")}
	m.src = Source{Dir: m.repo}
	m.a = &Agent{ESP: esp, Disk: diskPath, SectorSize: 512, Slot: "a", StateDir: state,
		TrialFailure: filepath.Join(state, "trial-failure.json"), Keys: []ed25519.PublicKey{pub}, Logf: t.Logf}
	return m
}

func bootedEntry(t *testing.T, r *release) string {
	usr := disk.PartitionGUID(testName, contract.USRA)
	c := contract.Cmdline{Slot: "a", USR: usr, Root: disk.PartitionGUID(testName, contract.ROOT),
		ESP: disk.PartitionGUID(testName, contract.ESP), Verity: r.rec.VerityRoot}
	// The order of builds before kernel_args: the slot's keys in the middle.
	args := append(append(append([]string(nil), contract.BaseArgs...), c.SlotArgs()...), c.SharedArgs()...)
	args = append(args, "quiet", "extra.flag=1")
	return fmt.Sprintf("title   %s %s (USR-A)\nversion %s\nsort-key %s\nlinux   /%s\ninitrd  /%s\noptions %s\n",
		testName, r.rec.Version, r.rec.Version, contract.EntrySortKey, contract.KernelPath("a"), contract.InitrdPath("a"), strings.Join(args, " "))
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// passiveHash is the sha256 of the whole passive partition.
func (m *machine) passiveHash() string {
	m.t.Helper()
	e, _, err := m.a.partition(m.a.Passive())
	if err != nil {
		m.t.Fatal(err)
	}
	off, size := m.a.partitionBytes(e)
	f, err := os.Open(m.a.Disk)
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, size)); err != nil {
		m.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// espSnapshot hashes every file of the ESP.
func (m *machine) espSnapshot() map[string]string {
	m.t.Helper()
	out := map[string]string{}
	filepath.Walk(m.a.ESP, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(m.a.ESP, p)
			out[rel] = sum(data)
		}
		return err
	})
	return out
}

// recorder collects reported events.
type recorder struct{ events []Event }

func (r *recorder) Report(_ context.Context, e Event) error {
	r.events = append(r.events, e)
	return nil
}

// codes renders events as "13/1 14/1 3/0:44".
func (r *recorder) codes() string {
	var out []string
	for _, e := range r.events {
		s := fmt.Sprintf("%d/%d", e.Type, e.Result)
		if e.ErrorCode != 0 {
			s += fmt.Sprintf(":%d", e.ErrorCode)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}
