package sparse

import "testing"

func TestIsZero(t *testing.T) {
	for n := 0; n <= 33; n++ {
		b := make([]byte, n)
		if !IsZero(b) {
			t.Fatalf("IsZero(%d zero bytes) = false", n)
		}
		// A non-zero byte anywhere, in the 8-byte words or the tail.
		for i := range b {
			b[i] = 0x80
			if IsZero(b) {
				t.Fatalf("IsZero(%d bytes, byte %d set) = true", n, i)
			}
			b[i] = 0
		}
	}
}

func BenchmarkIsZero(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		if !IsZero(buf) {
			b.Fatal("not zero")
		}
	}
}
