package fleetsim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/rootfs/cluster/lockclient"
	"github.com/imgbuild/imgbuild/rootfs/updater"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

// imageName is the release name of every simulated machine; the disk
// GUIDs derive from it, so all machines share them as copies of one
// image do.
const imageName = "fleetsim"

// release is one version's files and the record vouching for them.
type release struct {
	rec   sign.Record
	files map[string][]byte
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func newRelease(ver string, usrBytes int) *release {
	usr := []byte(strings.Repeat("usr "+ver+" ", usrBytes/(len(ver)+5)+1))[:usrBytes]
	kernel := []byte("kernel " + ver)
	initrd := []byte("initrd " + ver)
	r := &release{files: map[string][]byte{repo.KindUSR: usr, repo.KindKernel: kernel, repo.KindInitramfs: initrd}}
	r.rec = sign.Record{Format: sign.RecordFormat, Name: imageName, Version: ver, Arch: "amd64",
		Kernel: sum(kernel), Initramfs: sum(initrd), USR: sum(usr), USRSize: int64(len(usr)),
		VerityRoot: sum([]byte("root " + ver)), VeritySalt: strings.Repeat("e", 64), HashOffset: 4096, DataBlocks: 1}
	return r
}

// publish stores the release in the repository at root and points the
// channel at it.
func publish(root, tmp string, r *release, channel string, key ed25519.PrivateKey) error {
	sig, err := sign.Sign(r.rec, key)
	if err != nil {
		return err
	}
	files := map[string][]byte{repo.KindRecord: r.rec.Canonical(), repo.KindSignature: sig}
	for k, v := range r.files {
		files[k] = v
	}
	paths := map[string]string{}
	for k, v := range files {
		p := filepath.Join(tmp, r.rec.Version+"-"+k)
		if err := os.WriteFile(p, v, 0o644); err != nil {
			return err
		}
		paths[k] = p
	}
	p, err := repo.AddPayload(root, paths)
	if err != nil {
		return err
	}
	_, err = repo.Publish(root, channel, p, key, time.Now())
	return err
}

// machine is one simulated machine: the real agent over a sparse disk
// file and an ESP directory, booted from slot A with v1 marked good.
type machine struct {
	a    *updater.Agent
	id   string
	lock *updater.RebootLock
	// holding: between the lock granted and the boot settled.
	holding atomic.Bool
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// newMachine lays out machine dir the way an installed v1 image is:
// what stage-1 booted (the record, its signature, kernel, initrd) and
// a boot entry without a counter, which is what "marked good" means.
func newMachine(dir string, usrSize int64, v1 *release, priv ed25519.PrivateKey, pub ed25519.PublicKey) (*machine, error) {
	diskPath := filepath.Join(dir, "disk.img")
	l := disk.CoreOS(imageName, disk.Sizes{ESP: 1 << 20, USR: usrSize, OEM: 1 << 20, Root: 1 << 20}, disk.Contents{})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := disk.Write(diskPath, l); err != nil {
		return nil, fmt.Errorf("fleetsim: disk: %w", err)
	}
	esp := filepath.Join(dir, "esp")
	sig, err := sign.Sign(v1.rec, priv)
	if err != nil {
		return nil, err
	}
	for p, data := range map[string][]byte{
		contract.RecordPath("a"):    v1.rec.Canonical(),
		contract.SigPath("a"):       sig,
		contract.KernelPath("a"):    v1.files[repo.KindKernel],
		contract.InitrdPath("a"):    v1.files[repo.KindInitramfs],
		contract.EntryPath("a", -1): []byte(bootedEntry(v1)),
		contract.LoaderConf:         []byte("timeout 0\n"),
	} {
		if err := writeFile(filepath.Join(esp, filepath.FromSlash(p)), data); err != nil {
			return nil, err
		}
	}
	state := filepath.Join(dir, "state")
	a := &updater.Agent{ESP: esp, Disk: diskPath, SectorSize: 512, Slot: "a", StateDir: state,
		TrialFailure: filepath.Join(state, "trial-failure.json"), Keys: []ed25519.PublicKey{pub},
		MachineID: filepath.Join(state, "machine-id")}
	id, err := a.ID()
	if err != nil {
		return nil, err
	}
	return &machine{a: a, id: id}, nil
}

func bootedEntry(r *release) string {
	usr := disk.PartitionGUID(imageName, contract.USRA)
	c := contract.Cmdline{Slot: "a", USR: usr, Root: disk.PartitionGUID(imageName, contract.ROOT),
		ESP: disk.PartitionGUID(imageName, contract.ESP), Verity: r.rec.VerityRoot}
	args := append(append(append([]string(nil), contract.BaseArgs...), c.SlotArgs()...), c.SharedArgs()...)
	return fmt.Sprintf("title   %s %s (USR-A)\nversion %s\nsort-key %s\nlinux   /%s\ninitrd  /%s\noptions %s\n",
		imageName, r.rec.Version, r.rec.Version, contract.EntrySortKey, contract.KernelPath("a"), contract.InitrdPath("a"), strings.Join(args, " "))
}

// reboot does what systemd-boot, stage-1 and a healthy boot do to the
// ESP: boot the passive slot's counting entry and, once healthy, drop
// its counter (systemd-bless-boot's rename), which marks it good.
func (m *machine) reboot() error {
	slot := m.a.Passive()
	want, _ := contract.ParseEntryFile(contract.EntryFile(slot, -1))
	dir := filepath.Join(m.a.ESP, filepath.FromSlash(contract.EntriesDir))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("fleetsim: reboot: %w", err)
	}
	for _, e := range ents {
		n, ok := contract.ParseEntryFile(e.Name())
		if ok && n.ID == want.ID && n.Counting {
			if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, contract.EntryFile(slot, -1))); err != nil {
				return fmt.Errorf("fleetsim: reboot: %w", err)
			}
			m.a.Slot = slot
			return nil
		}
	}
	return fmt.Errorf("fleetsim: reboot: no trial entry for slot %s in %s", slot, dir)
}

// lockTimer wraps the FleetLock client to time its calls.
type lockTimer struct {
	c   *lockclient.Client
	rec func(d time.Duration)
}

func (l *lockTimer) PreReboot(ctx context.Context) error {
	t := time.Now()
	err := l.c.PreReboot(ctx)
	l.rec(time.Since(t))
	return err
}

func (l *lockTimer) SteadyState(ctx context.Context) error {
	t := time.Now()
	err := l.c.SteadyState(ctx)
	l.rec(time.Since(t))
	return err
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }
