package randomseed

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

type added struct {
	b      []byte
	credit int
}

type fakeKernel struct {
	ready bool
	fresh byte
	adds  []added
}

func (k *fakeKernel) Add(b []byte, creditBits int) error {
	k.adds = append(k.adds, added{append([]byte(nil), b...), creditBits})
	return nil
}

func (k *fakeKernel) Read(b []byte) (bool, error) {
	for i := range b {
		b[i] = k.fresh
	}
	return k.ready, nil
}

func TestSeedCreditedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var/lib/imgbuild/random-seed")
	k := &fakeKernel{ready: true, fresh: 7}
	if l, err := Load(path, k); err != nil || l.Found || len(k.adds) != 0 {
		t.Fatalf("Load of a missing seed = %+v, %v, adds %v", l, err, k.adds)
	}
	ok, err := Save(path, k)
	if err != nil || !ok {
		t.Fatalf("Save from a ready pool = %v, %v; want creditable", ok, err)
	}
	saved, _ := os.ReadFile(path)
	if len(saved) != 1+Size || saved[0] != creditable || bytes.Equal(saved[1:], bytes.Repeat([]byte{7}, Size)) {
		t.Fatalf("saved %x: want flag 1 and a hash, not the raw pool bytes", saved)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", st.Mode())
	}

	l, err := Load(path, k)
	if err != nil || !l.Credited || len(k.adds) != 1 || k.adds[0].credit != 8*Size || !bytes.Equal(k.adds[0].b, saved[1:]) {
		t.Fatalf("first Load = %+v, %v, adds %v; want the seed credited with %d bits", l, err, k.adds, 8*Size)
	}
	after, _ := os.ReadFile(path)
	if after[0] != notCreditable || !bytes.Equal(after[1:], saved[1:]) {
		t.Fatalf("after Load the file is %x; want it marked used", after)
	}
	// A boot that dies before saving a new seed: the next one must not
	// credit the same bytes again.
	l, err = Load(path, k)
	if err != nil || l.Credited || !l.Found || k.adds[1].credit != 0 {
		t.Fatalf("second Load = %+v, %v, adds %v; want mixed in, not credited", l, err, k.adds)
	}
}

func TestSeedFromUnreadyPoolNotCredited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed")
	k := &fakeKernel{ready: false, fresh: 1}
	if ok, err := Save(path, k); err != nil || ok {
		t.Fatalf("Save from an unready pool = %v, %v; want not creditable", ok, err)
	}
	l, err := Load(path, k)
	if err != nil || l.Credited || k.adds[0].credit != 0 {
		t.Fatalf("Load = %+v, %v, adds %v", l, err, k.adds)
	}
}

func TestSaveKeepsOldEntropy(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, append([]byte{0}, bytes.Repeat([]byte{1}, Size)...), 0o600)
	os.WriteFile(b, append([]byte{0}, bytes.Repeat([]byte{2}, Size)...), 0o600)
	k := &fakeKernel{ready: false, fresh: 9} // same fresh bytes for both
	Save(a, k)
	Save(b, k)
	sa, _ := os.ReadFile(a)
	sb, _ := os.ReadFile(b)
	if bytes.Equal(sa, sb) {
		t.Fatal("the new seed does not depend on the old one")
	}
}

func TestMalformedSeedMixedNotCredited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed")
	os.WriteFile(path, []byte{1, 2, 3}, 0o600) // flag 1, but truncated
	k := &fakeKernel{}
	l, err := Load(path, k)
	if err != nil || l.Credited || len(k.adds) != 1 || k.adds[0].credit != 0 {
		t.Fatalf("Load = %+v, %v, adds %v", l, err, k.adds)
	}
	if l.String() == "" || l.Reason == "" {
		t.Errorf("no reason given: %+v", l)
	}
}
