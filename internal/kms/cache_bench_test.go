package kms

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// missBench is a Service on a sealed bbolt store, as kmsd serves, with a
// cache of cacheSize and n keys.
func missBench(b *testing.B, n, cacheSize int) (*Service, []string) {
	b.Helper()
	dir := b.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		b.Fatal(err)
	}
	ss, err := sealed.Open(context.Background(), st, sealed.Config{Keyring: sl})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(Config{Store: ss, Sealer: sl, Authorizer: AccountOwner{}, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		out, err := svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = out.KeyMetadata.KeyId
	}
	return svc, ids
}

// BenchmarkKeyMiss is a lookup of a random key among many that the cache
// (of one entry) does not hold: the miss path of a large store.
func BenchmarkKeyMiss(b *testing.B) {
	for _, op := range []struct {
		name string
		run  func(*Service, string) error
	}{
		{"DescribeKey", func(s *Service, id string) error {
			_, err := s.DescribeKey(context.Background(), call(), &kmsapi.DescribeKeyInput{KeyId: id})
			return err
		}},
		{"Encrypt", func(s *Service, id string) error {
			_, err := s.Encrypt(context.Background(), call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: make([]byte, 32)})
			return err
		}},
	} {
		for _, size := range []int{1, 4000} {
			b.Run(fmt.Sprintf("%s/cache=%d", op.name, size), func(b *testing.B) {
				svc, ids := missBench(b, 2000, size)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := op.run(svc, ids[rand.IntN(len(ids))]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCachedKeyFootprint reports what the cache holds on the heap for
// each symmetric key used once: at a million keys, the collector's work is
// the number of objects the cache holds, and the heap their bytes.
func BenchmarkCachedKeyFootprint(b *testing.B) {
	const n = 5000
	svc, ids := missBench(b, n, 2*n)
	var objects, bytes float64
	for b.Loop() {
		svc.cache.flush()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, id := range ids {
			if _, err := svc.Encrypt(context.Background(), call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: make([]byte, 32)}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		objects = float64(after.HeapObjects-before.HeapObjects) / n
		bytes = float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	if got := svc.CacheLen(); got != n {
		b.Fatalf("the cache holds %d entries, want %d", got, n)
	}
	b.ReportMetric(objects, "objects/key")
	b.ReportMetric(bytes, "B/key")
}

// BenchmarkDecryptMiss is Decrypt of a ciphertext under a random key among
// many that the cache (of one entry) does not hold, beside BenchmarkKeyMiss.
func BenchmarkDecryptMiss(b *testing.B) {
	svc, ids := missBench(b, 2000, 1)
	blobs := make([][]byte, len(ids))
	for i, id := range ids {
		out, err := svc.Encrypt(context.Background(), call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: make([]byte, 32)})
		if err != nil {
			b.Fatal(err)
		}
		blobs[i] = out.CiphertextBlob
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Decrypt(context.Background(), call(), &kmsapi.DecryptInput{CiphertextBlob: blobs[rand.IntN(len(blobs))]}); err != nil {
			b.Fatal(err)
		}
	}
}
