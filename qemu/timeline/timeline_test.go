package timeline

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T) []Line {
	t.Helper()
	f, err := os.Open("testdata/minimal-tcg.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := ReadTranscript(f)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// The recorded transcript is a first boot of manifests/minimal.yaml under
// OVMF and TCG with a fresh VARS copy (imgbuild run --transcript).
func TestParseRecorded(t *testing.T) {
	tl := Parse(readTestdata(t))
	var names []string
	for _, p := range tl.Phases {
		names = append(names, p.Name)
	}
	want := "firmware loader efi-stub kernel init stage-1 modules partitions ROOT verity mount switch sysinit ready shell ready sshd ready httpd healthy"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("phases:\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		name        string
		host, guest float64 // guest < 0: none
	}{
		{"firmware", 11.468, -1},
		{"loader", 13.551, -1},
		{"init", 19.101, 2.348813},
		{"stage-1", 19.236, 2.52},
		{"ROOT", 21.613, 4.91},
		{"switch", 21.911, 5.21},
		{"ready sshd", 23.567, 6.87},
		{"healthy", 23.616, 6.92},
	} {
		p, ok := tl.Get(c.name)
		if !ok {
			t.Fatalf("no phase %s", c.name)
		}
		if p.CPU == 0 {
			t.Errorf("%s: no CPU time", c.name)
		}
		if math.Abs(p.Host-c.host) > 0.0005 {
			t.Errorf("%s: host %.3f, want %.3f", c.name, p.Host, c.host)
		}
		if (p.Guest == nil) != (c.guest < 0) || p.Guest != nil && math.Abs(*p.Guest-c.guest) > 0.0005 {
			t.Errorf("%s: guest %v, want %v", c.name, fmtGuest(p.Guest), c.guest)
		}
	}
}

// The kernel's start is the smallest arrival minus timestamp, and never
// after the kernel's first line.
func TestKernelStart(t *testing.T) {
	lines := []Line{
		{At: 1 * time.Second, Text: "BdsDxe: starting Boot0002"},
		{At: 5 * time.Second, Text: "[    0.000000] Linux version 6.1"},
		{At: 7 * time.Second, Text: "[    2.500000] Run /init as init process"},
		{At: 8 * time.Second, Text: "[    2.900000] late line"},
	}
	tl := Parse(lines)
	k, ok := tl.Get("kernel")
	if !ok || k.Host != 4.5 || *k.Guest != 0 {
		t.Fatalf("kernel %+v, want host 4.5 (7 s - 2.5 s)", k)
	}
	if tl.Phases[2].Name != "kernel" {
		t.Errorf("phases %+v: kernel not after loader", tl.Phases)
	}
}

// Lines without markers give no phases; a stage-1 line without a time is
// not a phase; service output that quotes a marker is not one either.
// The shell's prompt may share a line with the next marker.
func TestParseAfterPrompt(t *testing.T) {
	tl := Parse([]Line{
		{At: time.Second, Text: "imgbuild-sysinit: started minimal 1.0.0 at 4.00s since boot"},
		{At: 2 * time.Second, Text: "/ # \x1b[6nimgbuild-sysinit: httpd ready at 5.00s since boot"},
	})
	if p, ok := tl.Get("ready httpd"); !ok || *p.Guest != 5 {
		t.Fatalf("phases %+v: no httpd ready at 5 s", tl.Phases)
	}
}

func TestParseIgnores(t *testing.T) {
	tl := Parse([]Line{
		{At: 0, Text: ""},
		{At: time.Second, Text: "imgbuild-stage1: Secure Boot disabled"},
		{At: 2 * time.Second, Text: "[httpd] imgbuild-sysinit: healthy (1 services, 1.00s since boot)"},
	})
	if len(tl.Phases) != 1 || tl.Phases[0].Name != "firmware" || tl.Phases[0].Host != 1 {
		t.Fatalf("phases %+v, want firmware at 1 s only", tl.Phases)
	}
}

func TestTranscriptRoundTrip(t *testing.T) {
	lines := readTestdata(t)
	var b bytes.Buffer
	if err := WriteTranscript(&b, lines); err != nil {
		t.Fatal(err)
	}
	again, err := ReadTranscript(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(lines) || again[100] != lines[100] {
		t.Fatalf("round trip changed the transcript")
	}
	if _, err := ReadTranscript(strings.NewReader("x hello\n")); err == nil {
		t.Fatal("a line without seconds was accepted")
	}
}

func TestTableAndJSON(t *testing.T) {
	tl := Parse(readTestdata(t))
	var b bytes.Buffer
	if err := tl.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  ROOT") || !strings.Contains(b.String(), "healthy") {
		t.Errorf("table:\n%s", b.String())
	}
	j, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `{"name":"firmware","host_s":11.468,"cpu_s":3.03}`) {
		t.Errorf("json: %s", j)
	}
}

func fmtGuest(g *float64) string {
	if g == nil {
		return "none"
	}
	return strconv.FormatFloat(*g, 'f', -1, 64)
}

// With the kernel's quiet, stamped marker lines alone place its start.
func TestKernelStartQuiet(t *testing.T) {
	tl := Parse([]Line{
		{At: 2 * time.Second, Text: "EFI stub: Loaded initrd"},
		{At: 6 * time.Second, Text: "imgbuild-stage1: started (kernel 6.1.0, 3.00s since boot)"},
		{At: 7 * time.Second, Text: "imgbuild-stage1: modules done at 3.50s since boot"},
	})
	if k, ok := tl.Get("kernel"); !ok || k.Host != 3 {
		t.Fatalf("kernel %+v, want host 3 (6 s - 3 s)", k)
	}
}
