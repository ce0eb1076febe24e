package api_test

import (
	"bytes"
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
	// Measure once key generation runs, and require it to run still at the
	// end, so the measurement was taken beside it.
	for deadline := time.Now().Add(30 * time.Second); !generatingRSAKey(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatal("no RSA key generation started within 30s of the CreateKey calls")
		}
	}
	loaded := medianLatency(t, 21, encrypt)
	still := generatingRSAKey()
	cancel()
	wg.Wait()
	if !still {
		t.Fatal("RSA key generation ended before the measurement did: Encrypt was not measured beside it")
	}
	t.Logf("Encrypt median: %v idle, %v beside RSA_4096 key generation", idle, loaded)
	if loaded > 20*idle+50*time.Millisecond {
		t.Fatalf("Encrypt took %v beside RSA key generation, against %v on an idle server", loaded, idle)
	}
}

// generatingRSAKey reports whether a goroutine of this process is
// generating an RSA key.
func generatingRSAKey() bool {
	buf := make([]byte, 1<<20)
	for runtime.Stack(buf, true) == len(buf) { // all stacks must fit
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Contains(buf, []byte("crypto/rsa.GenerateKey("))
}
