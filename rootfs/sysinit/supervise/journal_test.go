package supervise

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/rootfs/journal"
)

// TestConsoleFeedsJournal: lines written before the journal opened go
// in first, under the boot's id; a service's streams keep their names;
// the console keeps its human lines.
func TestConsoleFeedsJournal(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out)
	c.Printf(contract.SysinitMarker+"started %s", "early")
	dir := t.TempDir()
	w, err := journal.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c.Attach(w, "boot-1")
	copyLines(strings.NewReader("one\r\ntwo\n"), c, "httpd", "stderr")
	c.Printf(contract.SysinitMarker + "late")
	w.Close()

	if want := "imgbuild-sysinit: started early\n[httpd] one\n[httpd] two\nimgbuild-sysinit: late\n"; out.String() != want {
		t.Errorf("console %q, want %q", out.String(), want)
	}
	got, _, err := journal.Read(os.DirFS(dir), ".")
	if err != nil || len(got) != 4 {
		t.Fatalf("journal: %+v, %v", got, err)
	}
	for i, want := range []journal.Entry{
		{Boot: "boot-1", Service: journal.Sysinit, Stream: "log", Message: "started early"},
		{Boot: "boot-1", Service: "httpd", Stream: "stderr", Message: "one"},
		{Boot: "boot-1", Service: "httpd", Stream: "stderr", Message: "two"},
		{Boot: "boot-1", Service: journal.Sysinit, Stream: "log", Message: "late"},
	} {
		e := got[i]
		if e.Time.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
		e.Time = want.Time
		if e != want {
			t.Errorf("entry %d: %+v, want %+v", i, e, want)
		}
	}
}
