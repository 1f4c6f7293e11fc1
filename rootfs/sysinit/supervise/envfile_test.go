package supervise

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
)

func TestEnvFileOverridesManifestEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.env"), []byte("# per machine\n\nGREETING=hello there\nPORT=9090\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	con := NewConsole(buf)
	s, err := New([]contract.Service{
		sh("web", `echo "$GREETING:$PORT:$KEEP"`, func(s *contract.Service) { s.Env = []string{"GREETING=hi", "KEEP=k"} }),
		sh("other", `echo "other:$PORT"`),
	}, Options{Console: con, Reaper: sharedReaper(), EnvDir: dir,
		Logf: func(f string, a ...any) { con.Printf("sysinit: "+f, a...) }, BaseEnv: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(2 * time.Second) })
	buf.waitFor(t, "[web] hello there:9090:k\n", 5*time.Second)
	buf.waitFor(t, "[other] other:\n", 5*time.Second)
}

func TestEnvFileRefusesBadLines(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.env"), []byte("A=1\nnot a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readEnvFile(dir, "web")
	if err == nil || !strings.Contains(err.Error(), "web.env:2") {
		t.Fatalf("error %v; want one naming web.env:2", err)
	}
	if env, err := readEnvFile(dir, "absent"); err != nil || env != nil {
		t.Fatalf("missing file: %v, %v", env, err)
	}
}
