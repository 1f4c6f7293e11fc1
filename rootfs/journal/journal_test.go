package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func entry(boot, service string, i int) Entry {
	return Entry{Time: time.Unix(1700000000+int64(i), 0).UTC(), Boot: boot, Service: service, Stream: "stdout",
		Message: fmt.Sprintf("line %d %s", i, strings.Repeat("x", 100))}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, de := range des {
		info, _ := de.Info()
		n += info.Size()
	}
	return n
}

// TestRingStaysInBudget floods the ring with 50 times its size: it never
// holds more than its budget, and what it keeps is the newest lines, in
// order, with none missing in between.
func TestRingStaysInBudget(t *testing.T) {
	dir := t.TempDir()
	const budget = 256 << 10
	w, err := Open(dir, budget)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100000
	for i := range n {
		if err := w.Write(entry("b1", "flood", i)); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 0 && dirSize(t, dir) > budget {
			t.Fatalf("after %d lines the ring holds %d bytes, budget %d", i, dirSize(t, dir), budget)
		}
	}
	w.Close()
	if s := dirSize(t, dir); s > budget || s < budget/2 {
		t.Errorf("ring holds %d bytes, want at most %d and most of it used", s, budget)
	}
	got, skipped, err := Read(os.DirFS(dir), ".")
	if err != nil || skipped != 0 {
		t.Fatalf("read: %v, %d skipped", err, skipped)
	}
	last := got[len(got)-1]
	if last.Message != entry("b1", "flood", n-1).Message {
		t.Errorf("newest line %q", last.Message)
	}
	first := 0
	fmt.Sscanf(got[0].Message, "line %d", &first)
	for i, e := range got {
		if want := entry("b1", "flood", first+i).Message; e.Message != want {
			t.Fatalf("entry %d: %q, want %q", i, e.Message, want)
		}
	}
}

// TestBootsAcrossReopen: each boot reopens the ring; lines of earlier
// boots stay, -1 picks the boot before the newest, a torn last line of a
// power-cut boot is skipped.
func TestBootsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	for b, boot := range []string{"boot-a", "boot-b", "boot-c"} {
		w, err := Open(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			w.Write(entry(boot, []string{Sysinit, "httpd"}[i%2], b*10+i))
		}
		w.Close()
		if boot == "boot-b" {
			segs, _ := listSegments(dir)
			f, _ := os.OpenFile(filepath.Join(dir, segs[len(segs)-1].name()), os.O_WRONLY|os.O_APPEND, 0)
			f.WriteString(`{"time":"2023-11-14T22:13:20Z","boot":"boot-b","serv`) // the power cut
			f.Close()
		}
	}
	all, skipped, err := Read(os.DirFS(dir), ".")
	if err != nil || skipped != 1 || len(all) != 9 {
		t.Fatalf("read %d entries, %d skipped, %v; want 9 and the torn one", len(all), skipped, err)
	}
	prev, err := Filter(all, -1, false, "")
	if err != nil || len(prev) != 3 || prev[0].Boot != "boot-b" {
		t.Errorf("boot -1: %v %v", prev, err)
	}
	httpd, _ := Filter(all, 0, false, "httpd")
	if len(httpd) != 1 || httpd[0].Boot != "boot-c" {
		t.Errorf("boot 0, httpd: %v", httpd)
	}
	if oldest, _ := Filter(all, 1, false, ""); len(oldest) != 3 || oldest[0].Boot != "boot-a" {
		t.Errorf("boot 1: %v", oldest)
	}
	if _, err := Filter(all, -3, false, ""); err == nil || !strings.Contains(err.Error(), "3 boots") {
		t.Errorf("boot -3: %v", err)
	}
	if every, _ := Filter(all, 0, true, Sysinit); len(every) != 6 {
		t.Errorf("all boots, sysinit: %d entries", len(every))
	}
}

// TestFullDiskDropsAndSays: writes that fail with ENOSPC (/dev/full)
// drop their lines, the error is returned once, and the first line that
// fits again says how many were lost.
func TestFullDiskDropsAndSays(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	good := w.f
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	w.f = full
	var errs int
	for i := range 5 {
		if err := w.Write(entry("b", "s", i)); err != nil {
			errs++
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("write error %v, want ENOSPC", err)
			}
		}
	}
	if errs != 1 {
		t.Errorf("%d errors returned for 5 failed writes, want 1", errs)
	}
	w.f = good
	full.Close()
	if err := w.Write(entry("b", "s", 5)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _, _ := Read(os.DirFS(dir), ".")
	if len(got) != 2 || !strings.Contains(got[0].Message, "5 lines lost") || got[1].Message != entry("b", "s", 5).Message {
		t.Errorf("after the disk had room again: %+v", got)
	}
}

func TestOpenRefusesTinyBudget(t *testing.T) {
	if _, err := Open(t.TempDir(), 1000); err == nil {
		t.Error("a 1000-byte ring opened")
	}
}
