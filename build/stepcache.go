package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/rootfs/squashfs"
)

// verbose reports msg as an info event of step when --verbose is on.
func (b *builder) verbose(msg string) {
	if b.opts.Verbose {
		b.report.send(Event{Step: "info", Status: "info", Detail: msg})
	}
}

// writeUSR writes USR (squashfs then verity tree) to out, or copies it
// from the cache when the same entries and options made it before.
func (b *builder) writeUSR(out string, entries []squashfs.Entry, opt squashfs.Options) (string, error) {
	k, err := usrKey(entries, opt, b.m.Name, b.m.Version)
	if err != nil {
		return "", err
	}
	start := time.Now()
	var verityTime time.Duration
	path, hit, err := cached(b.opts.CacheDir, "usr", k, "usr", func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		size, err := squashfs.Write(f, 0, metered("usr", b.report, entries), opt)
		if err != nil {
			return fmt.Errorf("usr: squashfs: %w", err)
		}
		t := time.Now()
		p, err := b.appendVerity(f, size)
		if err != nil {
			return err
		}
		verityTime = time.Since(t)
		if err := f.Close(); err != nil {
			return err
		}
		return writeJSON(filepath.Join(filepath.Dir(path), "meta.json"), usrMeta{SquashfsSize: size, Entries: len(entries), Verity: p})
	})
	if err != nil {
		return "", err
	}
	var meta usrMeta
	if err := readJSON(filepath.Join(filepath.Dir(path), "meta.json"), &meta); err != nil || meta.Verity == nil {
		return "", fmt.Errorf("usr: cache entry %s: %v", filepath.Dir(path), err)
	}
	if err := b.checkUSRSize(path, meta.SquashfsSize); err != nil {
		return "", err
	}
	b.sec.verity = meta.Verity
	if err := cachedCopy(path, out); err != nil {
		return "", fmt.Errorf("usr: %w", err)
	}
	if hit {
		return fmt.Sprintf("cached: %d entries, %.1f MiB squashfs + dm-verity tree", meta.Entries, mib(meta.SquashfsSize)), nil
	}
	return fmt.Sprintf("%d entries, %.1f MiB squashfs, dm-verity tree in %s, all in %s", meta.Entries, mib(meta.SquashfsSize),
		verityTime.Round(time.Millisecond), since(start)), nil
}

// checkUSRSize fails when squashfs plus hash tree overflow the slot.
func (b *builder) checkUSRSize(path string, squashfsSize int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("usr: %w", err)
	}
	if st.Size() > int64(b.m.Disk.USR) {
		return fmt.Errorf("%s: USR needs %.1f MiB (squashfs %.1f MiB + dm-verity hash area %.1f MiB), more than its slot (disk.usr = %v): raise disk.usr",
			b.m.File, mib(st.Size()), mib(squashfsSize), mib(st.Size()-squashfsSize), b.m.Disk.USR)
	}
	return nil
}

// writeInitramfs writes the initramfs to out through the cache.
func (b *builder) writeInitramfs(out string, in initramfs.Input) (bool, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00initramfs\x00%d\n", toolHash(), in.MTime)
	files := []string{in.Init}
	names := []string{"init"}
	for _, m := range in.Modules {
		files, names = append(files, m.Path), append(names, m.Name)
	}
	for i, f := range files {
		sum, _, err := fileSHA256(f)
		if err != nil {
			return false, fmt.Errorf("initramfs: %w", err)
		}
		fmt.Fprintf(h, "%q %q %s\n", names[i], filepath.Base(f), sum)
	}
	for _, f := range in.Files {
		fmt.Fprintf(h, "%q %o %x\n", f.Path, f.Mode, sha256.Sum256(f.Data))
	}
	path, hit, err := cached(b.opts.CacheDir, "initramfs", hex.EncodeToString(h.Sum(nil)), "initrd", func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := initramfs.Write(f, in); err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		return false, err
	}
	return hit, cachedCopy(path, out)
}

// diskKey identifies a disk image by everything written into it. It is
// "" (no caching) when a partition has content it does not know about.
func diskKey(l disk.Layout, files []esp.File, volID uint32, epoch time.Time, usr string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00disk\x00%s %d %d %d\n", toolHash(), l.DiskGUID, l.Size, volID, epoch.Unix())
	for _, p := range l.Partitions {
		fmt.Fprintf(h, "%d %q %s %s %d %d %d %v\n", p.Number, p.Label, p.TypeGUID, p.GUID, p.Start, p.Size, p.Attributes, p.Content != nil)
		if p.Content != nil && p.Label != "EFI-SYSTEM" && p.Label != "USR-A" {
			return "", nil
		}
	}
	sum, _, err := fileSHA256(usr)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "usr %s\n", sum)
	for _, f := range files {
		sum := hex.EncodeToString(sha256Bytes(f.Data))
		if f.Open != nil {
			if sum, err = hashReader(f.Open); err != nil {
				return "", fmt.Errorf("disk: hash %s: %w", f.Path, err)
			}
		}
		fmt.Fprintf(h, "%q %d %d %s\n", f.Path, f.Size, f.ModTime.Unix(), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Bytes(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// diskDigest is the image's sha256: written is deterministic, so an
// image written from the same key before has the same digest, and a
// large, mostly empty image need not be read back.
func (b *builder) diskDigest(k, image string) (string, error) {
	if k == "" {
		sum, _, err := fileSHA256(image)
		return sum, err
	}
	path, _, err := cached(b.opts.CacheDir, "disk-sha256", k, "sha256", func(path string) error {
		sum, _, err := fileSHA256(image)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(sum), 0o644)
	})
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	return string(data), err
}

// artifactSum is an output's sha256 and size; the disk's digest comes
// from diskDigest.
func (b *builder) artifactSum(kind, path string) (string, int64, error) {
	if kind != "disk" || b.diskSum == "" {
		return fileSHA256(path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	return b.diskSum, st.Size(), nil
}
