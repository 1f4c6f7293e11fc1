package updater

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/update/repo"
)

// StaticOffer tells a channel whose signature does not verify (a
// refusal) from one it could not read (a download error) by the error's
// type, not its words.
func TestStaticOfferCodes(t *testing.T) {
	pub, priv := keyPair(t)
	otherPub, _ := keyPair(t)
	tests := []struct {
		name string
		keys []ed25519.PublicKey
		edit func(root string)
		code int
	}{
		{"untrusted key", []ed25519.PublicKey{otherPub}, nil, contract.ErrSignature},
		{"no trusted keys", nil, nil, contract.ErrSignature},
		{"garbage signature", []ed25519.PublicKey{pub}, func(root string) {
			must(t, os.WriteFile(filepath.Join(root, filepath.FromSlash(repo.SigPath("stable"))), []byte("hello\n"), 0o644))
		}, contract.ErrSignature},
		{"no signature file", []ed25519.PublicKey{pub}, func(root string) {
			must(t, os.Remove(filepath.Join(root, filepath.FromSlash(repo.SigPath("stable")))))
		}, contract.ErrDownload},
		{"no channel", []ed25519.PublicKey{pub}, func(root string) {
			must(t, os.Remove(filepath.Join(root, filepath.FromSlash(repo.ChannelPath("stable")))))
		}, contract.ErrDownload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := repo.Publish(root, "stable", repo.Payload{Name: "minimal", Version: "2.0.0"}, priv, time.Now()); err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(root)
			}
			a := &Agent{Keys: tt.keys}
			_, err := a.StaticOffer(context.Background(), Source{Dir: root}, "stable")
			if got := Code(err, contract.ErrDownload); err == nil || got != tt.code {
				t.Fatalf("StaticOffer: %v (code %d), want code %d", err, got, tt.code)
			}
		})
	}
}
