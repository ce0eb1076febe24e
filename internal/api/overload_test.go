package api_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// medianLatency times n sequential calls of fn and returns the median.
func medianLatency(t *testing.T, n int, fn func() error) time.Duration {
	t.Helper()
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[n/2]
}

// TestRSAKeyGenerationLeavesRoomForCheapCalls: with far more RSA_4096
// CreateKey calls in flight than processors, Encrypt keeps close to its
// latency on an idle server, because key generation runs on a bounded pool
// instead of taking every processor.
func TestRSAKeyGenerationLeavesRoomForCheapCalls(t *testing.T) {
	s := startQuotaServer(t, "", 0)
	c := s.client(akidA, testRegion)
	key := mustKey(t, c, &kms.CreateKeyInput{})
	encrypt := func() error {
		_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
		return err
	}
	medianLatency(t, 10, encrypt) // warm up connections and caches
	idle := medianLatency(t, 21, encrypt)

	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	for range 4*runtime.GOMAXPROCS(0) + 4 {
		wg.Go(func() {
			_, _ = c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa4096, KeyUsage: types.KeyUsageTypeSignVerify})
		})
	}
	time.Sleep(300 * time.Millisecond) // let the key generations start
	loaded := medianLatency(t, 21, encrypt)
	cancel()
	wg.Wait()
	t.Logf("Encrypt median: %v idle, %v beside RSA_4096 key generation", idle, loaded)
	if loaded > 20*idle+50*time.Millisecond {
		t.Fatalf("Encrypt took %v beside RSA key generation, against %v on an idle server", loaded, idle)
	}
}
