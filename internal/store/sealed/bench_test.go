package sealed_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/memory"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// BenchmarkGet is the read of one 1.5 KB record, authenticated: what
// every cold key costs the sealed store.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	ring, err := seal.Create(filepath.Join(b.TempDir(), "root.key"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := sealed.Open(ctx, memory.New(), sealed.Config{Keyring: ring})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bucket, key := []byte("keys"), []byte("111122223333/us-east-1/0b1e2d3c-4f5a-6b7c-8d9e-0f1a2b3c4d5e")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(bucket, key, make([]byte, 1500)) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Get(bucket, key); return err }); err != nil {
			b.Fatal(err)
		}
	}
}
