package updater

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/sign"
	"github.com/imgbuild/imgbuild/update/repo"
)

// Write steps, in order (docs/updates.md). After a power cut at any
// point the booted slot's entry and files are untouched, and the passive
// slot has either no entry or a complete one: systemd-boot never sees a
// half-written slot.
const (
	StepEntryRemoved = "entry-removed" // the passive slot's entries are gone
	StepUSRWritten   = "usr-written"   // USR written, synced, read back
	StepESPFiles     = "esp-files"     // kernel, initrd/UKI, record, signature in place
	StepEntryWritten = "entry-written" // imgbuild-<slot>+3.conf in place
	StepGPT          = "gpt"           // attribute bits of both USR partitions
)

// Steps lists the write steps in order.
var Steps = []string{StepEntryRemoved, StepUSRWritten, StepESPFiles, StepEntryWritten, StepGPT}

// errCrashed stops a write in tests, as a power cut would.
var errCrashed = fmt.Errorf("agent: simulated power cut")

func (a *Agent) step(name string) error {
	if a.crash != nil && a.crash(name) {
		return errCrashed
	}
	return nil
}

// write puts a verified, downloaded payload into the passive slot.
func (a *Agent) write(p *payload, running *sign.Record) error {
	slot := a.Passive()
	bootedEntry, err := a.bootedEntry()
	if err != nil {
		return refuse(contract.ErrWrite, "%v", err)
	}
	part, _, err := a.partition(slot)
	if err != nil {
		return refuse(contract.ErrWrite, "%v", err)
	}
	entry, err := DeriveEntry(bootedEntry, a.Slot, slot, p.rec, part.Unique.String())
	if err != nil {
		return refuse(contract.ErrWrite, "%v", err)
	}
	uki := strings.Contains(entry, "\nefi ")
	if _, ok := p.byKind[repo.KindUKI+slot]; uki && !ok {
		return refuse(contract.ErrUnknownPayload, "this machine boots UKIs, and %s has none for slot %s", p.rec.Version, slot)
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{StepEntryRemoved, func() error { return a.removeEntries(slot, nil) }},
		{StepUSRWritten, func() error { return a.writeUSR(p, part.FirstLBA, part.LastLBA) }},
		{StepESPFiles, func() error { return a.writeESPFiles(p, slot, uki) }},
		{StepEntryWritten, func() error {
			return writeFileSync(filepath.Join(a.ESP, filepath.FromSlash(contract.EntryPath(slot, contract.DefaultTries))), []byte(entry))
		}},
		{StepGPT, a.syncAttributes},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return refuse(contract.ErrWrite, "write slot %s (%s): %v", slot, s.name, err)
		}
		if err := a.step(s.name); err != nil {
			return err
		}
	}
	// The state first: a test or an operator who reads the line then
	// asks for status must find the install there.
	if err := a.updateState(func(s *State) {
		s.Installed = &Installed{Version: p.rec.Version, Previous: running.Version, Slot: slot, At: now(), BootID: a.BootID}
		s.LastError, s.LastErrorCode = "", 0
	}); err != nil {
		return err
	}
	a.logf("installed %s into slot %s; it boots next, on trial", p.rec.Version, slot)
	return nil
}

// bootedEntry reads the booted slot's entry, counted or not.
func (a *Agent) bootedEntry() (string, error) {
	es, err := slotEntries(a.ESP, a.Slot)
	if err != nil {
		return "", err
	}
	if len(es) == 0 {
		return "", fmt.Errorf("no boot entry of the booted slot %s in %s", a.Slot, contract.EntriesDir)
	}
	data, err := os.ReadFile(filepath.Join(a.ESP, filepath.FromSlash(contract.EntriesDir), es[0].File))
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// removeEntries removes slot's boot entries (those keep returns true for
// stay) and makes the removal durable before anything else is written.
func (a *Agent) removeEntries(slot string, keep func(entryFile) bool) error {
	es, err := slotEntries(a.ESP, slot)
	if err != nil {
		return err
	}
	dir := filepath.Join(a.ESP, filepath.FromSlash(contract.EntriesDir))
	for _, e := range es {
		if keep != nil && keep(e) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.File)); err != nil {
			return err
		}
	}
	return fsutil.SyncDir(dir)
}

// writeUSR copies the USR payload to the start of the passive partition,
// syncs, reads it back and compares its sha256 with the record's.
func (a *Agent) writeUSR(p *payload, first, last uint64) error {
	in, err := os.Open(p.downloaded[repo.KindUSR])
	if err != nil {
		return err
	}
	defer in.Close()
	disk, err := os.OpenFile(a.Disk, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer disk.Close()
	off := int64(first) * a.SectorSize
	end := int64(last+1) * a.SectorSize
	if off+p.rec.USRSize > end {
		return fmt.Errorf("usr of %d bytes overflows the partition", p.rec.USRSize)
	}
	w := &progressWriter{w: io.NewOffsetWriter(disk, off), total: p.rec.USRSize, logf: a.logf,
		label: fmt.Sprintf("writing %s to USR-%s", p.rec.Version, strings.ToUpper(a.Passive()))}
	if _, err := io.Copy(w, io.LimitReader(in, p.rec.USRSize)); err != nil {
		return err
	}
	if err := disk.Sync(); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(disk, off, p.rec.USRSize)); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.rec.USR {
		return fmt.Errorf("read back sha256 %s, the record says %s", got, p.rec.USR)
	}
	return nil
}

// progressWriter prints a console line every quarter of the way.
type progressWriter struct {
	w           io.Writer
	total, done int64
	next        int64
	label       string
	logf        func(string, ...any)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	for p.total > 0 && p.done*4 >= p.next*p.total && p.next <= 4 {
		p.logf("%s: %d%%", p.label, p.next*25)
		p.next++
	}
	return n, err
}

// writeESPFiles writes the slot's files to temporary names on the ESP,
// then renames each into place: the record last, so a slot directory
// never pairs a new record with an old kernel that it would vouch for.
func (a *Agent) writeESPFiles(p *payload, slot string, uki bool) error {
	dir := filepath.Join(a.ESP, filepath.FromSlash(contract.SlotDir(slot)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type file struct{ src, dst string }
	var files []file
	if uki {
		files = append(files, file{p.downloaded[repo.KindUKI+slot], contract.UKIPath(slot)})
	} else {
		files = append(files, file{p.downloaded[repo.KindKernel], contract.KernelPath(slot)},
			file{p.downloaded[repo.KindInitramfs], contract.InitrdPath(slot)})
	}
	files = append(files, file{p.downloaded[repo.KindSignature], contract.SigPath(slot)},
		file{p.downloaded[repo.KindRecord], contract.RecordPath(slot)})
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		if err := writeFileSync(filepath.Join(a.ESP, filepath.FromSlash(f.dst)), data); err != nil {
			return err
		}
	}
	return nil
}
